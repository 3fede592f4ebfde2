// createConnectHandler against connect-node's own connectNodeAdapter, over real HTTP/2 and
// HTTP/1.1 on port 0: for calls without a deadline, whatever the protocol and whatever the
// method does, both give the same answer byte for byte. The deadline is deadline.spec.ts.
import { request as http1Request } from "node:http";
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { healthV1 } from "@imagesvc/proto";
import { readHttp2Answer } from "@imagesvc/testing";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectHandler } from "./connect-handler";
import { listen, type Listening } from "./listen";

/** The connection bounds of these servers: long enough never to bite. */
const BOUNDS = { headerTimeoutMs: 10_000, idleTimeoutMs: 120_000 };

const { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } =
  healthV1;

/** One message object sent by every stream, as a watched update is (encode-once.ts). */
const shared = create(HealthCheckResponseSchema, {
  status: HealthCheckResponse_ServingStatus.SERVING,
});

/** What a call does, read from the request's `service` field. */
interface Script {
  readonly messages?: number;
  readonly code?: Code;
  readonly text?: string;
}

const scripted: ServiceImpl<typeof healthV1.Health> = {
  check(req, ctx) {
    const script = JSON.parse(req.service) as Script;
    ctx.responseHeader.set("x-scripted", "yes");
    if (script.code !== undefined) throw new ConnectError(script.text ?? "", script.code);
    return { status: HealthCheckResponse_ServingStatus.SERVING };
  },
  async *watch(req) {
    const script = JSON.parse(req.service) as Script;
    for (let i = 0; i < (script.messages ?? 0); i += 1) {
      await Promise.resolve();
      yield i % 2 === 0 ? shared : { status: HealthCheckResponse_ServingStatus.NOT_SERVING };
    }
    if (script.code !== undefined) throw new ConnectError(script.text ?? "", script.code);
  },
  list() {
    return { statuses: {} };
  },
};

let ours: Listening;
let theirs: Listening;
const sessions: ClientHttp2Session[] = [];

beforeAll(async () => {
  const options = {
    routes: (router: Parameters<Parameters<typeof connectNodeAdapter>[0]["routes"]>[0]) =>
      router.service(healthV1.Health, scripted),
    readMaxBytes: 1024,
  };
  ours = await listen(createConnectHandler(options), { port: 0, host: "127.0.0.1", ...BOUNDS });
  theirs = await listen(connectNodeAdapter(options), { port: 0, host: "127.0.0.1", ...BOUNDS });
});

afterAll(async () => {
  for (const s of sessions) s.close();
  await Promise.all([ours.close(100), theirs.close(100)]);
});

interface Protocol {
  readonly name: string;
  readonly method: "Check" | "Watch";
  readonly headers: Record<string, string>;
  readonly body: (service: string) => Buffer;
}

function framed(bytes: Uint8Array | string, flags = 0): Buffer {
  const data = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  const out = Buffer.alloc(5 + data.length);
  out[0] = flags;
  out.writeUInt32BE(data.length, 1);
  out.set(data, 5);
  return out;
}

const binary = (service: string) =>
  toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }));
const json = (service: string) =>
  toJsonString(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }));

const protocols: Protocol[] = [
  {
    name: "Connect unary, binary",
    method: "Check",
    headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
    body: (s) => Buffer.from(binary(s)),
  },
  {
    name: "Connect unary, JSON",
    method: "Check",
    headers: { "content-type": "application/json", "connect-protocol-version": "1" },
    body: (s) => Buffer.from(json(s)),
  },
  {
    name: "Connect server stream",
    method: "Watch",
    headers: { "content-type": "application/connect+proto", "connect-protocol-version": "1" },
    body: (s) => framed(binary(s)),
  },
  {
    name: "Connect server stream, JSON",
    method: "Watch",
    headers: { "content-type": "application/connect+json", "connect-protocol-version": "1" },
    body: (s) => framed(json(s)),
  },
  {
    name: "gRPC-Web",
    method: "Watch",
    headers: { "content-type": "application/grpc-web+proto" },
    body: (s) => framed(binary(s)),
  },
  {
    name: "gRPC-Web, JSON",
    method: "Watch",
    headers: { "content-type": "application/grpc-web+json" },
    body: (s) => framed(json(s)),
  },
  {
    name: "gRPC with JSON",
    method: "Check",
    headers: { "content-type": "application/grpc+json", te: "trailers" },
    body: (s) => framed(json(s)),
  },
];

interface Answer {
  readonly status: unknown;
  readonly headers: Record<string, unknown>;
  readonly body: string;
  readonly trailers: Record<string, unknown>;
}

/** All but the date, which differs between any two answers. */
function pick(h: IncomingHttpHeaders): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) if (k !== "date" && k !== ":status") out[k] = v;
  return out;
}

async function callHttp2(url: string, path: string, p: Protocol, body: Buffer): Promise<Answer> {
  const s = connect(url);
  sessions.push(s);
  const req = s.request({ ":method": "POST", ":path": path, ...p.headers });
  const answer = readHttp2Answer(req);
  req.end(body);
  const { headers, trailers, body: got } = await answer;
  return {
    status: headers[":status"],
    headers: pick(headers),
    body: got.toString("base64"),
    trailers: pick(trailers),
  };
}

function callHttp1(url: string, path: string, p: Protocol, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http1Request(`${url}${path}`, { method: "POST", headers: p.headers, agent: false });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        resolve({
          status: res.statusCode,
          headers: pick(res.headers),
          body: Buffer.concat(chunks).toString("base64"),
          trailers: pick(res.trailers),
        });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const scriptArb = fc.record(
  {
    messages: fc.integer({ min: 0, max: 3 }),
    code: fc.constantFrom(...Object.values(Code).filter((c): c is Code => typeof c === "number")),
    text: fc.string({ maxLength: 12 }),
  },
  { requiredKeys: [] },
);

describe("createConnectHandler", () => {
  it("answers as connectNodeAdapter does, for any protocol, HTTP version and scripted call", async () => {
    await fc.assert(
      fc.asyncProperty(
        scriptArb,
        fc.constantFrom(...protocols),
        fc.constantFrom(callHttp2, callHttp1),
        async (script, protocol, call) => {
          const path = `/grpc.health.v1.Health/${protocol.method}`;
          const body = protocol.body(JSON.stringify(script));
          const [a, b] = await Promise.all([
            call(ours.url, path, protocol, body),
            call(theirs.url, path, protocol, body),
          ]);
          expect(a).toEqual(b);
        },
      ),
      { numRuns: 120 },
    );
  });

  it("answers as connectNodeAdapter does for a path it does not serve, a wrong method and a message too large", async () => {
    const [connectUnary] = protocols;
    if (connectUnary === undefined) throw new Error("no protocol");
    const cases: [string, Buffer][] = [
      ["/grpc.health.v1.Health/Nope", connectUnary.body("{}")],
      ["/nowhere", Buffer.alloc(0)],
      ["/grpc.health.v1.Health/Check", connectUnary.body("x".repeat(2000))],
    ];
    for (const [path, body] of cases)
      for (const call of [callHttp2, callHttp1]) {
        const [a, b] = await Promise.all([
          call(ours.url, path, connectUnary, body),
          call(theirs.url, path, connectUnary, body),
        ]);
        expect({ path, ...a }).toEqual({ path, ...b });
      }
  });
});
