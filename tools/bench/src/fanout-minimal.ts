// The fan-out scenario against a minimal server, to tell the framework's share from the
// gateway's: connect-node serving only WatchOperation on a plain h2c server, through the
// operation bus and store on Redis. Updates are written by `store.update` on a worker thread
// (fanout-publisher.ts) at the bench's rate; the same watch clients as `npm run bench`. Prints
// p99 publish → deliver per update step and the server's longest event-loop stall per step.
// Usage: node tools/bench/build.mjs && node dist/tools/bench/fanout-minimal.js [redis-url]
import { create, toJsonString } from "@bufbuild/protobuf";
import { type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createOperationBus, createOperationStore } from "@imagesvc/operations";
import { ImageService, Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import { subscriberOf } from "@imagesvc/redis";
import { Redis } from "ioredis";
import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http2";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { PublisherJob, PublisherResult } from "./fanout-publisher";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { quantile } from "./stats";
import type { WatchJob, WatchMessage } from "./watch-client";

const OPS = 1000;
const WATCHERS = 10;
const STEPS = 5;
const PER_TICK = 2; // every 5 ms: 400 updates/s, as in the bench
const CLIENTS = 4;
const PROJECT = "minimal";

const redisUrl = process.argv[2] ?? "redis://127.0.0.1:6379";
const prefix = `fanout-minimal-${randomUUID().slice(0, 8)}`;
const redis = new Redis(redisUrl);
const store = createOperationStore({ redis, prefix, retentionMs: 600_000 });
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
    job: "{}",
  });
  ops.push(created.operation);
}

const handler = connectNodeAdapter({
  routes: (router: ConnectRouter) => {
    router.service(ImageService, {
      watchOperation: (req, ctx) => bus.watch(req.project, req.operation, ctx.signal),
    });
  },
});
const server = createServer(handler);
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const address = server.address();
const url = `http://127.0.0.1:${String(typeof address === "object" && address !== null ? address.port : 0)}`;

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

const lag = monitorEventLoopDelay({ resolution: 5 });
lag.enable();
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
for (const result of await Promise.all(clients.map((c) => c.done))) {
  if (result.type !== "done") continue;
  for (let k = 0; k < result.records.length; k += 3) {
    const op = result.records[k] ?? 0;
    const version = result.records[k + 1] ?? 0;
    const sent = published[op]?.[version];
    if (sent !== undefined) byStep[version - 2]?.push((result.records[k + 2] ?? 0) - sent);
  }
}
process.stdout.write(
  `p99 ms per step: ${byStep.map((l) => quantile(l, 0.99).toFixed(1)).join(", ")}; ` +
    `server's longest event-loop stall: ${serverStallMs.toFixed(0)} ms\n`,
);
server.close();
redis.disconnect();
process.exit(0);
