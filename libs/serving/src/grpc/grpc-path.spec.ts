// The gRPC path against connect-node's own gRPC handler, over real HTTP/2 on port 0: for any
// scripted behaviour of a method and any chunking of the request body, both answer the same
// headers, messages and status; for any bytes at all, the gRPC path answers with a status and
// stays up.
import {
  connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createServiceImplSpec,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";
import { healthV1 } from "@imagesvc/proto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectHandler } from "../connect-handler";
import { listen, type Listening } from "../listen";
import { EnvelopeReader } from "./envelope-reader";
import { createGrpcPath } from "./grpc-path";

/** The connection bounds of these servers: long enough never to bite. */
const BOUNDS = { headerTimeoutMs: 10_000, idleTimeoutMs: 120_000 };

const { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } =
  healthV1;

/** What a call does, read from the request's `service` field. */
interface Script {
  readonly messages?: number;
  readonly errorAt?: number;
  readonly code?: Code;
  readonly text?: string;
  readonly detail?: boolean;
  readonly header?: boolean;
  readonly waitForAbort?: boolean;
  /** Answer after this long, unless the call's signal aborted meanwhile. */
  readonly waitMs?: number;
}

const ended: string[] = [];

function fail(script: Script): ConnectError {
  return new ConnectError(
    script.text ?? "scripted",
    script.code ?? Code.Internal,
    { "x-error-meta": "m" },
    script.detail === true
      ? [
          {
            desc: HealthCheckResponseSchema,
            value: { status: HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN },
          },
        ]
      : [],
  );
}

function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    signal.addEventListener(
      "abort",
      () => {
        resolve(signal.reason);
      },
      { once: true },
    );
  });
}

const scripted: ServiceImpl<typeof healthV1.Health> = {
  async check(req, ctx) {
    const script = JSON.parse(req.service) as Script;
    if (script.header === true) {
      ctx.responseHeader.set("x-scripted", "yes");
      ctx.responseTrailer.set("x-trailer", "t");
    }
    if (script.waitForAbort === true) throw await aborted(ctx.signal);
    if (script.waitMs !== undefined) {
      await new Promise((r) => setTimeout(r, script.waitMs));
      if (ctx.signal.aborted) throw ctx.signal.reason;
    }
    if (script.code !== undefined) throw fail(script);
    return { status: HealthCheckResponse_ServingStatus.SERVING };
  },
  async *watch(req, ctx) {
    const script = JSON.parse(req.service) as Script;
    const id = script.text ?? "";
    try {
      if (script.header === true) ctx.responseHeader.set("x-scripted", "yes");
      for (let i = 0; i < (script.messages ?? 0); i += 1) {
        if (script.errorAt === i) throw fail(script);
        yield {
          status:
            i % 2 === 0
              ? HealthCheckResponse_ServingStatus.SERVING
              : HealthCheckResponse_ServingStatus.NOT_SERVING,
        };
      }
      if (script.waitForAbort === true) throw await aborted(ctx.signal);
      if (script.code !== undefined && script.errorAt === undefined) throw fail(script);
    } finally {
      ended.push(id);
    }
  },
  // Large enough (about 3 KiB) to be compressed for a client that accepts gzip.
  list() {
    return {
      statuses: Object.fromEntries(
        Array.from({ length: 100 }, (_, i) => [
          `service-${String(i)}`,
          { status: HealthCheckResponse_ServingStatus.SERVING },
        ]),
      ),
    };
  },
};

const READ_MAX = 256;
const gate = (ctx: HandlerContext) => {
  if (ctx.requestHeader.get("x-deny") !== null)
    return Promise.reject(new ConnectError("denied by the gate", Code.Unauthenticated));
  return Promise.resolve();
};
/**
 * A stream's messages behind a plain iterator (next and return only), the way the gateway's
 * interceptors wrap them: the path must pull through it and stop it with return().
 */
function wrapped<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = messages[Symbol.asyncIterator]();
      return {
        next: () => it.next(),
        return: (value?: unknown) =>
          it.return === undefined
            ? Promise.resolve({ done: true as const, value: value as T })
            : it.return(value),
      };
    },
  };
}

/** An interceptor that counts, to show the path runs them. */
let intercepted = 0;
const counting = () => (next: (req: never) => Promise<unknown>) => async (req: never) => {
  intercepted += 1;
  const res = (await next(req)) as { stream: boolean; message: AsyncIterable<unknown> };
  return res.stream ? { ...res, message: wrapped(res.message) } : res;
};

let lean: Listening;
let plain: Listening;
/** The server's side of every stream the lean path was offered, last one last. */
const taken: ServerHttp2Stream[] = [];
const sessions: ClientHttp2Session[] = [];

beforeAll(async () => {
  const interceptors = [counting() as never];
  const handler = createConnectHandler({
    routes: (router) => router.service(healthV1.Health, scripted),
    interceptors,
    requestGate: gate,
    readMaxBytes: READ_MAX,
  });
  const take = createGrpcPath({
    services: [createServiceImplSpec<typeof healthV1.Health>(healthV1.Health, scripted)],
    interceptors,
    requestGate: gate,
    readMaxBytes: READ_MAX,
  });
  lean = await listen(handler, {
    port: 0,
    host: "127.0.0.1",
    ...BOUNDS,
    takeStream: (stream, headers) => {
      taken.push(stream);
      return take(stream, headers);
    },
  });
  plain = await listen(handler, { port: 0, host: "127.0.0.1", ...BOUNDS });
});

afterAll(async () => {
  for (const s of sessions) s.close();
  await Promise.all([lean.close(100), plain.close(100)]);
});

function session(url: string): ClientHttp2Session {
  const s = connect(url);
  sessions.push(s);
  return s;
}

interface Answer {
  readonly headers: Record<string, unknown>;
  readonly messages: unknown[];
  readonly trailers: Record<string, unknown>;
}

/** One raw gRPC call: the body written in the given chunks. */
function call(
  s: ClientHttp2Session,
  method: "Check" | "Watch",
  chunks: readonly Uint8Array[],
  extra: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = s.request({
      ":method": "POST",
      ":path": `/grpc.health.v1.Health/${method}`,
      "content-type": "application/grpc",
      te: "trailers",
      ...extra,
    });
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const reader = new EnvelopeReader(1 << 20);
    const messages: unknown[] = [];
    req.on("response", (h) => {
      headers = h;
    });
    req.on("trailers", (t: IncomingHttpHeaders) => {
      trailers = t;
    });
    req.on("data", (chunk: Buffer) => {
      for (const m of reader.push(chunk))
        messages.push(fromBinary(HealthCheckResponseSchema, m.data).status);
    });
    req.on("end", () => {
      resolve({ headers: pick(headers), messages, trailers: pick(trailers) });
    });
    req.on("error", reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

/**
 * The parts both servers must agree on: all but the date and the accept-encoding list. Both
 * encode `grpc-status-details-bin` with connect's own code, so its bytes compare as they are.
 */
function pick(h: IncomingHttpHeaders): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k === "date" || k === "grpc-accept-encoding") continue;
    out[k] = v;
  }
  return out;
}

function frame(service: string, flags = 0, payload?: Uint8Array): Uint8Array {
  const bytes =
    payload ?? toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }));
  const out = Buffer.alloc(5 + bytes.length);
  out[0] = flags;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  out.push(bytes.subarray(last));
  return out.filter((c) => c.length > 0);
}

const scriptArb = fc.record(
  {
    messages: fc.integer({ min: 0, max: 4 }),
    errorAt: fc.integer({ min: 0, max: 4 }),
    code: fc.constantFrom(...Object.values(Code).filter((c): c is Code => typeof c === "number")),
    text: fc.string({ maxLength: 20 }),
    detail: fc.boolean(),
    header: fc.boolean(),
  },
  { requiredKeys: [] },
);

describe("the gRPC path", () => {
  it("answers as connect-node does, for any scripted call and any chunking of the body", async () => {
    const a = session(lean.url);
    const b = session(plain.url);
    await fc.assert(
      fc.asyncProperty(
        scriptArb,
        fc.constantFrom("Check" as const, "Watch" as const),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.constantFrom<Record<string, string>>(
          {},
          { "grpc-accept-encoding": "identity,deflate,gzip" },
        ),
        async (script, method, cuts, accept) => {
          const body = frame(JSON.stringify(script));
          const chunks = split(body, cuts);
          const [x, y] = await Promise.all([
            call(a, method, chunks, accept),
            call(b, method, chunks, accept),
          ]);
          expect(x).toEqual(y);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("agrees on protocol errors: no message, two messages, a cut message, too large, a timeout, the gate", async () => {
    const a = session(lean.url);
    const b = session(plain.url);
    const ok = frame("{}");
    const cases: [string, "Check" | "Watch", Uint8Array[], Record<string, string>][] = [
      ["no message", "Check", [], {}],
      ["two messages", "Check", [ok, ok], {}],
      ["two messages, streaming", "Watch", [ok, ok], {}],
      ["too large", "Check", [frame("x".repeat(READ_MAX + 1))], {}],
      [
        "deadline",
        "Check",
        [frame(JSON.stringify({ waitForAbort: true }))],
        { "grpc-timeout": "50m" },
      ],
      ["bad timeout", "Check", [ok], { "grpc-timeout": "soon" }],
      ["gate", "Watch", [ok], { "x-deny": "1" }],
      ["unknown encoding", "Check", [ok], { "grpc-encoding": "snappy" }],
    ];
    for (const [name, method, chunks, extra] of cases) {
      const [x, y] = await Promise.all([
        call(a, method, chunks, extra),
        call(b, method, chunks, extra),
      ]);
      expect({ name, status: x.trailers["grpc-status"] }).toEqual({
        name,
        status: y.trailers["grpc-status"],
      });
      expect(x.trailers["grpc-status"]).not.toBe("0");
    }
  });

  it("compresses a message of 1 KiB or more for a client that accepts gzip, as connect-node does", async () => {
    const list = (s: ClientHttp2Session, accept: string) =>
      new Promise<{ encoding: unknown; flags: number[]; data: Buffer[] }>((resolve, reject) => {
        const req = s.request({
          ":method": "POST",
          ":path": "/grpc.health.v1.Health/List",
          "content-type": "application/grpc",
          "grpc-accept-encoding": accept,
        });
        let encoding: unknown;
        const reader = new EnvelopeReader(1 << 20);
        const flags: number[] = [];
        const data: Buffer[] = [];
        req.on("response", (h) => {
          encoding = h["grpc-encoding"];
        });
        req.on("data", (chunk: Buffer) => {
          for (const m of reader.push(chunk)) {
            flags.push(m.flags);
            data.push(m.flags === 1 ? gunzipSync(m.data) : Buffer.from(m.data));
          }
        });
        req.on("end", () => {
          resolve({ encoding, flags, data });
        });
        req.on("error", reject);
        req.end(frame("", 0, new Uint8Array()));
      });
    const a = session(lean.url);
    const b = session(plain.url);
    const [x, y] = await Promise.all([
      list(a, "identity,deflate,gzip"),
      list(b, "identity,deflate,gzip"),
    ]);
    expect(x.encoding).toBe("gzip");
    expect(x.flags).toEqual([1]);
    expect(x).toEqual(y);
    const [plainX, plainY] = await Promise.all([list(a, "identity"), list(b, "identity")]);
    expect(plainX.flags).toEqual([0]);
    expect(plainX).toEqual(plainY);
  });

  it("treats a deadline longer than a timer can hold as no deadline", async () => {
    const a = session(lean.url);
    const far = await call(a, "Check", [frame(JSON.stringify({ waitMs: 50 }))], {
      "grpc-timeout": "99999999H",
    });
    expect(far.trailers["grpc-status"]).toBe("0");
  });

  it("takes gzip-compressed requests, and refuses a compressed message without grpc-encoding", async () => {
    const a = session(lean.url);
    const payload = gzipSync(
      toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "{}" })),
    );
    const zipped = await call(a, "Check", [frame("", 1, payload)], { "grpc-encoding": "gzip" });
    expect(zipped.trailers["grpc-status"]).toBe("0");
    expect(zipped.messages).toEqual([HealthCheckResponse_ServingStatus.SERVING]);
    const bare = await call(a, "Check", [frame("", 1, payload)]);
    expect(bare.trailers["grpc-status"]).toBe(String(Code.Internal));
    const bomb = gzipSync(Buffer.alloc(READ_MAX * 4));
    const big = await call(a, "Check", [frame("", 1, bomb)], { "grpc-encoding": "gzip" });
    expect(big.trailers["grpc-status"]).toBe(String(Code.ResourceExhausted));
  });

  it("runs the interceptors, and ends the method's iterator when the client cancels", async () => {
    const a = session(lean.url);
    const before = intercepted;
    await call(a, "Check", [frame("{}")]);
    expect(intercepted).toBe(before + 1);

    const req = a.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Watch",
      "content-type": "application/grpc",
    });
    req.end(frame(JSON.stringify({ messages: 1, waitForAbort: true, text: "cancelled-watch" })));
    await new Promise((resolve) => req.once("data", resolve));
    req.close(constants.NGHTTP2_CANCEL);
    await expect.poll(() => ended.includes("cancelled-watch")).toBe(true);
  });

  it("lets go of a call whose client resets it or goes while its body is awaited, with or without a deadline", async () => {
    const deadlines = [{}, { "grpc-timeout": "100S" }];
    const goes = [
      (req: ClientHttp2Stream) => {
        req.close(constants.NGHTTP2_CANCEL);
      },
      (_req: ClientHttp2Stream, a: ClientHttp2Session) => {
        a.destroy();
      },
    ];
    for (const extra of deadlines)
      for (const go of goes) {
        const a = session(lean.url);
        const count = taken.length;
        const req = a.request({
          ":method": "POST",
          ":path": "/grpc.health.v1.Health/Check",
          "content-type": "application/grpc",
          ...extra,
        });
        req.on("error", () => undefined);
        await expect.poll(() => taken.length).toBe(count + 1);
        const server = taken.at(-1);
        // The gate has passed and the request is being read.
        await expect.poll(() => server?.listenerCount("data")).toBe(1);
        go(req, a);
        await expect.poll(() => server?.listenerCount("data")).toBe(0);
      }
  });

  it("answers any bytes and any header values with a status, and stays up", async () => {
    const a = session(lean.url);
    const value = fc.stringMatching(/^[!-~][ -~]{0,15}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 64 }),
        fc.constantFrom("Check" as const, "Watch" as const),
        fc.record(
          {
            "grpc-encoding": fc.oneof(fc.constantFrom("gzip", "identity"), value),
            "grpc-timeout": fc.oneof(fc.constantFrom("1S", "100m", "99999999H"), value),
            "x-metadata-bin": value,
            authorization: value,
          },
          { requiredKeys: [] },
        ),
        async (bytes, method, extra) => {
          const answer = await call(a, method, [bytes], extra);
          const status = answer.trailers["grpc-status"];
          expect(typeof status).toBe("string");
        },
      ),
      { numRuns: 300 },
    );
    const after = await call(a, "Check", [frame("{}")]);
    expect(after.trailers["grpc-status"]).toBe("0");
  });
});
