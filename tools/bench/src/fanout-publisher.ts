// The fan-out's update writer for fanout-minimal.ts, on a worker thread: an event loop of its
// own, as the workers' are, so the server under test cannot slow it down by being busy.
import { create, fromJsonString } from "@bufbuild/protobuf";
import { createOperationStore } from "@imagesvc/operations";
import { Operation_Status, OperationSchema } from "@imagesvc/proto";
import { Redis } from "ioredis";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parentPort, workerData } from "node:worker_threads";

export interface PublisherJob {
  readonly redisUrl: string;
  readonly prefix: string;
  /** The operations, as Operation JSON. */
  readonly ops: readonly string[];
  readonly steps: number;
  /** Updates written every 5 ms. */
  readonly perTick: number;
}

export interface PublisherResult {
  /** published[op][version] = ms since epoch just before the write. */
  readonly published: number[][];
  /** This thread's longest event-loop delay per step, in ms. */
  readonly stallMs: number[];
}

const now = () => performance.timeOrigin + performance.now();
const job = workerData as PublisherJob;
const redis = new Redis(job.redisUrl);
const store = createOperationStore({
  redis,
  prefix: job.prefix,
  pubsub: "classic",
  retentionMs: 600_000,
});
const ops = job.ops.map((json) => fromJsonString(OperationSchema, json));
const published: number[][] = ops.map(() => []);
const lag = monitorEventLoopDelay({ resolution: 5 });
lag.enable();
const stallMs: number[] = [];
const writes: Promise<unknown>[] = [];
for (let step = 1; step <= job.steps; step++) {
  lag.reset();
  for (let i = 0; i < ops.length; i += job.perTick) {
    const tick = now();
    for (let j = i; j < i + job.perTick; j++) {
      const op = ops[j];
      if (op === undefined) continue;
      const next = create(OperationSchema, {
        ...op,
        status: step === job.steps ? Operation_Status.DONE : Operation_Status.RUNNING,
        progress: step * 20,
      });
      (published[j] ??= [])[step + 1] = now();
      writes.push(store.update(next));
    }
    const wait = 5 - (now() - tick);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  stallMs.push(lag.max / 1e6);
}
await Promise.all(writes);
const result: PublisherResult = { published, stallMs };
parentPort?.postMessage(result);
redis.disconnect();
