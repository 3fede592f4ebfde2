// The call's deadline on both serving paths, over real HTTP/2 and HTTP/1.1 on port 0, with raw
// node:http2 and node:http clients: a real gRPC or Connect client enforces its deadline itself,
// which would hide what the server answers. Bounds on time are generous (a loaded machine).
import { request as http1Request } from "node:http";
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  createServiceImplSpec,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";
import { healthV1 } from "@imagesvc/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectHandler } from "./connect-handler";
import { createGrpcPath } from "./grpc/grpc-path";
import { listen, type Listening } from "./listen";

/** The connection bounds of these servers: long enough never to bite. */
const BOUNDS = { headerTimeoutMs: 10_000, idleTimeoutMs: 120_000 };

const { HealthCheckRequestSchema, HealthCheckResponse_ServingStatus } = healthV1;

/** The deadline every call here asks for, in ms. */
const DEADLINE_MS = 300;
/** How long a late implementation takes, ignoring its signal. */
const LATE_MS = 900;
/** Long enough to tell an answer at the deadline from a hang, short enough for a test. */
const GIVE_UP_MS = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** "late": answers OK after LATE_MS, never looking at its signal; anything else at once. */
const health: ServiceImpl<typeof healthV1.Health> = {
  async check(req) {
    if (req.service === "late") await sleep(LATE_MS);
    return { status: HealthCheckResponse_ServingStatus.SERVING };
  },
  async *watch(req) {
    if (req.service === "late") await sleep(LATE_MS);
    yield { status: HealthCheckResponse_ServingStatus.SERVING };
  },
  list() {
    return { statuses: {} };
  },
};

let lean: Listening;
let plain: Listening;
const sessions: ClientHttp2Session[] = [];

/** A request gate that never decides for a call with `x-stall`, as a stuck token check. */
const gate = (ctx: HandlerContext) =>
  ctx.requestHeader.has("x-stall") ? new Promise<void>(() => undefined) : Promise.resolve();

beforeAll(async () => {
  const handler = createConnectHandler({
    routes: (router) => router.service(healthV1.Health, health),
    requestGate: gate,
  });
  const grpcPath = createGrpcPath({
    services: [createServiceImplSpec<typeof healthV1.Health>(healthV1.Health, health)],
    interceptors: [],
    requestGate: gate,
    readMaxBytes: 1 << 20,
  });
  lean = await listen(handler, { port: 0, host: "127.0.0.1", ...BOUNDS, takeStream: grpcPath });
  plain = await listen(handler, { port: 0, host: "127.0.0.1", ...BOUNDS });
});

afterAll(async () => {
  for (const s of sessions) s.close();
  await Promise.all([lean.close(100), plain.close(100)]);
});

function framed(service: string): Buffer {
  const bytes = toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }));
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

interface Answer {
  /** The code the client is told: grpc-status, or the Connect error's code. */
  readonly code: string;
  readonly elapsedMs: number;
  /** The server closed the request's stream (or, over HTTP/1.1, the connection) afterwards. */
  readonly closed: Promise<boolean>;
}

/** How each path is reached, and how its answer is read. */
interface Way {
  readonly name: string;
  readonly server: () => Listening;
  readonly headers: Record<string, string>;
  /** The code from the answer's headers, trailers and body. */
  readonly code: (h: IncomingHttpHeaders, t: IncomingHttpHeaders, body: Buffer) => string;
}

const grpcCode = (h: IncomingHttpHeaders, t: IncomingHttpHeaders) =>
  String(t["grpc-status"] ?? h["grpc-status"] ?? "none");

/** gRPC-Web carries its status in a trailer frame (flags 0x80) at the end of the body. */
function grpcWebCode(h: IncomingHttpHeaders, _t: IncomingHttpHeaders, body: Buffer): string {
  if (h["grpc-status"] !== undefined) return String(h["grpc-status"]);
  for (let at = 0; at + 5 <= body.length;) {
    const length = body.readUInt32BE(at + 1);
    if (((body[at] ?? 0) & 0x80) !== 0) {
      const text = body.subarray(at + 5, at + 5 + length).toString();
      return /grpc-status:\s*(\d+)/i.exec(text)?.[1] ?? "none";
    }
    at += 5 + length;
  }
  return "none";
}

/** A Connect unary error is JSON with a snake_case code; an OK answer is the message itself. */
function connectCode(h: IncomingHttpHeaders, _t: IncomingHttpHeaders, body: Buffer): string {
  if (Number(h[":status"]) === 200) return "ok";
  return (JSON.parse(body.toString()) as { code?: string }).code ?? "none";
}

const unaryWays: Way[] = [
  {
    name: "the gRPC path",
    server: () => lean,
    headers: { "content-type": "application/grpc", te: "trailers", "grpc-timeout": "300m" },
    code: grpcCode,
  },
  {
    name: "connect-node, gRPC",
    server: () => plain,
    headers: { "content-type": "application/grpc", te: "trailers", "grpc-timeout": "300m" },
    code: grpcCode,
  },
  {
    name: "connect-node, gRPC-Web",
    server: () => lean,
    headers: { "content-type": "application/grpc-web+proto", "grpc-timeout": "300m" },
    code: grpcWebCode,
  },
  {
    name: "connect-node, Connect",
    server: () => lean,
    headers: {
      "content-type": "application/proto",
      "connect-protocol-version": "1",
      "connect-timeout-ms": String(DEADLINE_MS),
    },
    code: connectCode,
  },
];

/** The Connect unary body is the bare message; the other protocols frame it. */
function bodyFor(way: Way, service: string): Buffer {
  const message = framed(service);
  return way.headers["content-type"] === "application/proto" ? message.subarray(5) : message;
}

/** One call over HTTP/2; `body` undefined: the headers go, and the body never does. */
function callHttp2(way: Way, method: "Check" | "Watch", body?: Buffer): Promise<Answer> {
  const s = connect(way.server().url);
  s.on("error", () => undefined);
  sessions.push(s);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = s.request({
      ":method": "POST",
      ":path": `/grpc.health.v1.Health/${method}`,
      ...way.headers,
    });
    const closed = new Promise<boolean>((r) => {
      req.once("close", () => {
        r(true);
      });
      setTimeout(() => {
        r(false);
      }, GIVE_UP_MS).unref();
    });
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    const giveUp = setTimeout(() => {
      reject(new Error(`no answer within ${GIVE_UP_MS} ms`));
    }, GIVE_UP_MS);
    req.on("response", (h) => {
      headers = h;
    });
    req.on("trailers", (t: IncomingHttpHeaders) => {
      trailers = t;
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => undefined);
    req.on("end", () => {
      clearTimeout(giveUp);
      resolve({
        code: way.code(headers, trailers, Buffer.concat(chunks)),
        elapsedMs: performance.now() - started,
        closed,
      });
    });
    if (body !== undefined) req.end(body);
  });
}

describe("the call's deadline", { timeout: 20_000 }, () => {
  for (const way of unaryWays) {
    it(`ends a call whose request body never comes with DEADLINE_EXCEEDED at its deadline: ${way.name}`, async () => {
      const answer = await callHttp2(way, "Check");
      expect(answer.code).toBe(
        way.code === connectCode ? "deadline_exceeded" : String(Code.DeadlineExceeded),
      );
      expect(answer.elapsedMs).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
      expect(answer.elapsedMs).toBeLessThan(GIVE_UP_MS);
      // Answered, the stream is closed too: a client that never sends does not hold it open.
      expect(await answer.closed).toBe(true);
    });

    it(`answers DEADLINE_EXCEEDED, not OK, when the implementation finishes after the deadline: ${way.name}`, async () => {
      const answer = await callHttp2(way, "Check", bodyFor(way, "late"));
      expect(answer.code).toBe(
        way.code === connectCode ? "deadline_exceeded" : String(Code.DeadlineExceeded),
      );
      expect(answer.elapsedMs).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    });

    it(`ends a call whose request gate has not decided by the deadline with DEADLINE_EXCEEDED: ${way.name}`, async () => {
      const answer = await callHttp2(
        { ...way, headers: { ...way.headers, "x-stall": "1" } },
        "Check",
        bodyFor(way, "prompt"),
      );
      expect(answer.code).toBe(
        way.code === connectCode ? "deadline_exceeded" : String(Code.DeadlineExceeded),
      );
      expect(answer.elapsedMs).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    });

    it(`answers OK when the implementation finishes in time: ${way.name}`, async () => {
      const answer = await callHttp2(way, "Check", bodyFor(way, "prompt"));
      expect(answer.code).toBe(way.code === connectCode ? "ok" : "0");
    });
  }

  for (const way of unaryWays.filter((w) => w.code !== connectCode)) {
    it(`ends a server stream whose implementation outlives the deadline with DEADLINE_EXCEEDED: ${way.name}`, async () => {
      const late = await callHttp2(way, "Watch", framed("late"));
      expect(late.code).toBe(String(Code.DeadlineExceeded));
      const prompt = await callHttp2(way, "Watch", framed("prompt"));
      expect(prompt.code).toBe("0");
    });
  }

  it("ends a Connect call over HTTP/1.1 whose body never comes with DEADLINE_EXCEEDED, and closes the connection", async () => {
    const started = performance.now();
    const { status, connection, body, closed } = await new Promise<{
      status: number | undefined;
      connection: string | undefined;
      body: string;
      closed: Promise<boolean>;
    }>((resolve, reject) => {
      const req = http1Request(`${lean.url}/grpc.health.v1.Health/Check`, {
        method: "POST",
        headers: {
          "content-type": "application/proto",
          "connect-protocol-version": "1",
          "connect-timeout-ms": String(DEADLINE_MS),
          "content-length": "10",
        },
      });
      const giveUp = setTimeout(() => {
        reject(new Error(`no answer within ${GIVE_UP_MS} ms`));
      }, GIVE_UP_MS);
      req.on("error", () => undefined);
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          clearTimeout(giveUp);
          resolve({
            status: res.statusCode,
            connection: res.headers.connection,
            body: Buffer.concat(chunks).toString(),
            closed: new Promise<boolean>((r) => {
              if (req.socket?.destroyed === true) r(true);
              req.socket?.once("close", () => {
                r(true);
              });
              setTimeout(() => {
                r(false);
              }, GIVE_UP_MS).unref();
            }),
          });
        });
      });
      req.flushHeaders();
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(status).toBe(504);
    expect((JSON.parse(body) as { code: string }).code).toBe("deadline_exceeded");
    expect(connection).toBe("close");
    expect(await closed).toBe(true);
  });
});
