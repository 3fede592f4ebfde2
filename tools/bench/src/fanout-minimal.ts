// The fan-out scenario against a minimal server, to tell the framework's share from the
// gateway's and from the bus's: WatchOperation served through this project's operation bus and
// store on Redis, by either
// - `connect`: connect-node on a plain h2c server, the framework the gateway is built on; or
// - `grpc-js`: `@grpc/grpc-js`'s own Server, a mature gRPC server (gRPC only); or
// - `raw`: bare node:http2 with hand-written gRPC framing, only what this measurement needs
//   (identity encoding, no deadlines, no auth). It is a measuring stick, not a server to ship.
// Updates are written by `store.update` on a worker thread (fanout-publisher.ts) at the bench's
// rate; the same watch clients as `npm run bench`. Prints p99 publish → deliver per update step,
// the server's longest event-loop stall while the updates flow, and its RSS per open stream.
// Usage: node tools/bench/build.mjs &&
//   node --expose-gc dist/tools/bench/fanout-minimal.js [connect|grpc-js|raw] [redis-url]
// (`npm run bench` runs all three as its "baseline" scenario.)
import { ACCEPTED, encodeLifecycle } from "@imagesvc/lifecycle";
import { create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import { type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createOperationBus, createOperationStore } from "@imagesvc/operations";
import {
  ImageService,
  Operation_Status,
  OperationSchema,
  WatchOperationRequestSchema,
  type Operation,
} from "@imagesvc/proto";
import { subscriberOf } from "@imagesvc/redis";
import { Redis } from "ioredis";
import * as grpc from "@grpc/grpc-js";
import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer, type Http2Server, type ServerHttp2Stream } from "node:http2";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { PublisherJob, PublisherResult } from "./fanout-publisher";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { quantile, round } from "./stats";
import type { WatchJob, WatchMessage } from "./watch-client";

/** The last line a run prints, after `RESULT `. */
export interface MinimalResult {
  readonly server: "connect" | "grpc-js" | "raw";
  readonly streams: number;
  readonly delivered: number;
  readonly p99Ms: number;
  readonly p99MsByStep: readonly number[];
  readonly longestStallMs: number;
  readonly rssPerStreamKiB: number;
  /** The server's main-thread CPU per delivered update, while the updates flow. */
  readonly cpuPerDeliveryUs: number;
  /** The watch clients' CPU time, all four together. */
  readonly clientCpuSeconds: number;
}

const OPS = 1000;
const WATCHERS = 10;
const STEPS = 5;
const PER_TICK = 2; // every 5 ms: 400 updates/s, as in the bench
const CLIENTS = 4;
const PROJECT = "minimal";

const serverKind = process.argv[2] ?? "connect";
if (serverKind !== "connect" && serverKind !== "grpc-js" && serverKind !== "raw")
  throw new Error(`the server is "connect", "grpc-js" or "raw", not "${serverKind}"`);
const redisUrl = process.argv[3] ?? "redis://127.0.0.1:6379";
const prefix = `fanout-minimal-${randomUUID().slice(0, 8)}`;
const redis = new Redis(redisUrl);
const store = createOperationStore({ redis, prefix, pubsub: "classic", retentionMs: 600_000 });
const bus = createOperationBus({
  subscriber: subscriberOf(new Redis(redisUrl), "classic"),
  store,
  prefix,
});

const ops: Operation[] = [];
for (let i = 0; i < OPS; i++) {
  const operation = create(OperationSchema, {
    name: `operation-${String(i)}`,
    project: PROJECT,
    status: Operation_Status.PENDING,
    insertTime: new Date().toISOString(),
  });
  const created = await store.create({
    operation,
    requestId: randomUUID(),
    fingerprint: "f",
    request: "{}",
    notification: "",
    lifecycle: encodeLifecycle(ACCEPTED),
  });
  ops.push(created.operation);
}

const streamClosed = new Error("the stream closed");

/** One WatchOperation on bare HTTP/2: a gRPC request frame in, a frame per version out. */
function rawWatch(stream: ServerHttp2Stream): void {
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  stream.on("end", () => {
    const req = fromBinary(WatchOperationRequestSchema, Buffer.concat(chunks).subarray(5));
    const stop = new AbortController();
    stream.on("close", () => {
      stop.abort(streamClosed);
    });
    stream.respond(
      { ":status": 200, "content-type": "application/grpc" },
      { waitForTrailers: true },
    );
    stream.on("wantTrailers", () => {
      stream.sendTrailers({ "grpc-status": "0" });
    });
    void (async () => {
      try {
        for await (const op of bus.watch(req.project, req.operation, stop.signal)) {
          const message = toBinary(OperationSchema, op);
          const frame = Buffer.alloc(5 + message.length);
          frame.writeUInt32BE(message.length, 1);
          frame.set(message, 5);
          if (!stream.write(frame)) await new Promise((r) => stream.once("drain", r));
        }
        stream.end();
      } catch {
        if (!stream.destroyed) stream.close();
      }
    })();
  });
}

/** WatchOperation on grpc-js: the same bus, messages encoded by protobuf-es. */
async function startGrpcJs(): Promise<{ url: string; close: () => void }> {
  const server = new grpc.Server();
  const identity = (b: Buffer) => b;
  server.addService(
    {
      WatchOperation: {
        path: "/computeimages.v1.ImageService/WatchOperation",
        requestStream: false,
        responseStream: true,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      WatchOperation: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const req = fromBinary(WatchOperationRequestSchema, call.request);
        const stop = new AbortController();
        call.on("cancelled", () => {
          stop.abort(streamClosed);
        });
        void (async () => {
          try {
            for await (const op of bus.watch(req.project, req.operation, stop.signal))
              if (!call.write(Buffer.from(toBinary(OperationSchema, op))))
                await new Promise((r) => call.once("drain", r));
            call.end();
          } catch {
            call.end();
          }
        })();
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, p) => {
      if (error === null) resolve(p);
      else reject(error);
    });
  });
  return {
    url: `http://127.0.0.1:${String(port)}`,
    close: () => {
      server.forceShutdown();
    },
  };
}

let server: Http2Server | undefined;
let grpcJs: { url: string; close: () => void } | undefined;
if (serverKind === "grpc-js") {
  grpcJs = await startGrpcJs();
} else if (serverKind === "raw") {
  server = createServer();
  server.on("stream", rawWatch);
} else {
  server = createServer(
    connectNodeAdapter({
      routes: (router: ConnectRouter) => {
        router.service(ImageService, {
          watchOperation: (req, ctx) => bus.watch(req.project, req.operation, ctx.signal),
        });
      },
    }),
  );
}
let url: string;
if (server === undefined) url = grpcJs?.url ?? "";
else {
  const h2 = server;
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  const address = h2.address();
  url = `http://127.0.0.1:${String(typeof address === "object" && address !== null ? address.port : 0)}`;
}
global.gc?.();
const rssBefore = process.memoryUsage.rss();

const clients = Array.from({ length: CLIENTS }, (_, c) => {
  const child = fork(join(import.meta.dirname, "watch-client.js"));
  const per = OPS / CLIENTS;
  const job: WatchJob = {
    url,
    project: PROJECT,
    ops: ops.slice(c * per, (c + 1) * per).map((o) => o.name),
    firstIndex: c * per,
    watchersPerOp: WATCHERS,
    connections: 8,
  };
  child.send(job);
  const message = (type: WatchMessage["type"]) =>
    new Promise<WatchMessage>((resolve) => {
      child.on("message", (m: WatchMessage) => {
        if (m.type === type) resolve(m);
      });
    });
  return { opened: message("open"), done: message("done") };
});
await Promise.all(clients.map((c) => c.opened));
await new Promise((r) => setTimeout(r, 2000));
global.gc?.();
const rssPerStreamKiB = (process.memoryUsage.rss() - rssBefore) / (OPS * WATCHERS) / 1024;

const lag = monitorEventLoopDelay({ resolution: 5 });
lag.enable();
// The main thread only: the publisher is a worker thread of this process.
const cpuBefore = process.threadCpuUsage();
const publisher = new Worker(join(import.meta.dirname, "fanout-publisher.js"), {
  workerData: {
    redisUrl,
    prefix,
    ops: ops.map((o) => toJsonString(OperationSchema, o)),
    steps: STEPS,
    perTick: PER_TICK,
  } satisfies PublisherJob,
});
const { published } = await new Promise<PublisherResult>((resolve, reject) => {
  publisher.once("message", resolve);
  publisher.once("error", reject);
});
const serverStallMs = lag.max / 1e6;
const byStep: number[][] = Array.from({ length: STEPS }, () => []);
let clientCpuSeconds = 0;
for (const result of await Promise.all(clients.map((c) => c.done))) {
  if (result.type !== "done") continue;
  clientCpuSeconds += result.cpuSeconds;
  for (let k = 0; k < result.records.length; k += 3) {
    const op = result.records[k] ?? 0;
    const version = result.records[k + 1] ?? 0;
    const sent = published[op]?.[version];
    if (sent !== undefined) byStep[version - 2]?.push((result.records[k + 2] ?? 0) - sent);
  }
}
const cpu = process.threadCpuUsage(cpuBefore);
const delivered = byStep.reduce((n, l) => n + l.length, 0);
const result: MinimalResult = {
  server: serverKind,
  streams: OPS * WATCHERS,
  delivered,
  cpuPerDeliveryUs: round((cpu.user + cpu.system) / delivered, 0),
  p99Ms: round(quantile(byStep.flat(), 0.99)),
  p99MsByStep: byStep.map((l) => round(quantile(l, 0.99))),
  longestStallMs: round(serverStallMs),
  rssPerStreamKiB: round(rssPerStreamKiB),
  clientCpuSeconds: round(clientCpuSeconds),
};
process.stdout.write(
  `${serverKind}: p99 ms per step: ${result.p99MsByStep.join(", ")}; ` +
    `server's longest event-loop stall: ${String(result.longestStallMs)} ms; ` +
    `RSS per stream: ${String(result.rssPerStreamKiB)} KiB; ` +
    `CPU per delivery: ${String(result.cpuPerDeliveryUs)} µs; ` +
    `clients' CPU: ${String(result.clientCpuSeconds)} s\n` +
    `RESULT ${JSON.stringify(result)}\n`,
);
server?.close();
grpcJs?.close();
redis.disconnect();
process.exit(0);
