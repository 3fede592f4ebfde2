// BullMQ alone, as the service configures it, with a worker that does nothing: what the queue
// costs per image before the service does anything (scenario 3 reports it beside its own figures).
import {
  createImageQueue,
  jobPointer,
  queuePrefix,
  QUEUE_NAME,
  type JobPointer,
} from "@imagesvc/queue";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { commandsBetween, redisSnapshot } from "../redis-stats";
import { SETTINGS } from "../settings";
import { round } from "../stats";

const PREFIX = "bench-queue-floor";

/**
 * Adds `SETTINGS.endToEndImages` jobs through libs/queue (the gateway's add: its job options,
 * its job id) 64 at a time, then takes them with a BullMQ Worker of the service's settings
 * (concurrency 50, 30 s locks) whose processor returns at once. Both run in this process, one
 * after the other, so each one's CPU is read alone; the jobs are the service's (pointers).
 */
export async function queueFloor(redisUrl: string) {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  // The service's job options (the deployment's defaults).
  const queue = createImageQueue({
    connection,
    prefix: PREFIX,
    attempts: 10,
    backoffMs: 1000,
    retentionMs: 7 * 24 * 3600_000,
  });
  const jobs = (n: number, tag: string): JobPointer[] =>
    Array.from({ length: n }, (_, i) =>
      jobPointer("bench-project", `operation-${tag}-${String(i)}`),
    );
  const addAll = async (batch: JobPointer[]) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: SETTINGS.concurrency }, async () => {
        for (let job = batch[next++]; job !== undefined; job = batch[next++]) await queue.add(job);
      }),
    );
  };
  const takeAll = (count: number) =>
    new Promise<void>((resolve, reject) => {
      let taken = 0;
      const workerConnection = new Redis(redisUrl, { maxRetriesPerRequest: null });
      const close = () =>
        worker.close().then(() => {
          workerConnection.disconnect();
        });
      const worker = new Worker(
        QUEUE_NAME,
        () => {
          if (++taken === count) setImmediate(() => void close().then(resolve, reject));
          return Promise.resolve();
        },
        {
          connection: workerConnection,
          prefix: queuePrefix(PREFIX),
          concurrency: 50,
          lockDuration: 30_000,
          stalledInterval: 15_000,
          maxStalledCount: 5,
        },
      );
      worker.on("error", reject);
    });
  const cpuUs = (start: NodeJS.CpuUsage) => {
    const used = process.cpuUsage(start);
    return used.user + used.system;
  };
  try {
    // Warm-up, as scenario 3 has: the same code paths, not counted.
    const warm = SETTINGS.endToEndWarmupImages;
    await addAll(jobs(warm, "warm"));
    await takeAll(warm);

    const n = SETTINGS.endToEndImages;
    const batch = jobs(n, "floor");
    const before = await redisSnapshot(connection);
    const addCpu = process.cpuUsage();
    await addAll(batch);
    const addUs = cpuUs(addCpu);
    const takeCpu = process.cpuUsage();
    await takeAll(n);
    const takeUs = cpuUs(takeCpu);
    const after = await redisSnapshot(connection);
    const byName = commandsBetween(before, after);
    const commands = [...byName.values()].reduce((a, b) => a + b, 0);
    return {
      jobs: n,
      redisCommandsPerJob: round(commands / n, 1),
      /** Per job, by command: subtracted from scenario 3's to show which of its commands are ours. */
      redisCommandsByName: Object.fromEntries(
        [...byName].map(([name, calls]) => [name, round(calls / n, 2)]),
      ),
      redisCpuUsPerJob: round((after.cpuUs - before.cpuUs) / n, 0),
      addCpuUsPerJob: round(addUs / n, 0),
      workerCpuUsPerJob: round(takeUs / n, 0),
    };
  } finally {
    await queue.close();
    connection.disconnect();
  }
}
