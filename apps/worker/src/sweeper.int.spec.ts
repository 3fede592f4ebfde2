import { createOperationStore, operationKeys, type OperationStore } from "@imagesvc/operations";
import { type ImageQueue, type StoredRequest } from "@imagesvc/queue";
import { startRedisServer } from "@imagesvc/testing";
import { Redis } from "ioredis";
import { pino, type Logger } from "pino";
import { beforeEach, describe, expect, it } from "vitest";
import { startSweeper, type Sweeper } from "./sweeper";
import { acceptOperation, DAY, pointerOf, PROJECT, useWorkerRedis } from "./redis.test-helper";

let connection: Redis;
let store: OperationStore;
let queue: ImageQueue;
let prefix: string;
const sweepers: Sweeper[] = [];
const shared = useWorkerRedis({ attempts: 10, backoffMs: 1000 }, () => {
  for (const s of sweepers.splice(0)) s.stop();
});
beforeEach(() => ({ connection, store, queue, prefix } = shared));

function sweeper(
  overrides: { pageSize?: number; log?: Logger; onUnreadable?: () => void } = {},
): Sweeper {
  const s = startSweeper({
    store,
    queue,
    redis: connection,
    prefix,
    log: pino({ level: "silent" }),
    intervalMs: 3_600_000,
    graceMs: 1000,
    ...overrides,
  });
  sweepers.push(s);
  return s;
}

/** Records a PENDING operation created `ageMs` ago, as the gateway does; returns its job. */
const accept = (ageMs: number): Promise<StoredRequest> =>
  acceptOperation(store, { name: "web" }, { acceptedMs: Date.now() - ageMs });

describe("the sweeper", () => {
  it("walks every page to the end: a backlog of 1,200 live jobs does not hide a lost one behind it", async () => {
    // The oldest operations all have live jobs (long imports, say); the lost one is the newest.
    for (let i = 0; i < 1200; i++) await queue.add(pointerOf(await accept(120_000 - i)));
    const lost = await accept(60_000);
    expect(await sweeper({ pageSize: 500 }).sweepOnce()).toEqual({ requeued: 1, swept: true });
    expect((await queue.info(lost.operation)).status).toBe("live");
  });

  it("queues again a job that finished without finishing its operation, and leaves DONE ones alone", async () => {
    const job = await accept(60_000);
    await queue.add(pointerOf(job));
    // A job that BullMQ gave up on (stalled too often, say): finished, with the operation open.
    await connection.hset(
      `{${prefix}:queue}:create-image:${job.operation}`,
      "finishedOn",
      String(Date.now()),
    );
    expect((await queue.info(job.operation)).status).toBe("finished");
    expect(await sweeper().sweepOnce()).toEqual({ requeued: 1, swept: true });
    expect(await queue.info(job.operation)).toMatchObject({ status: "live", attemptsMade: 0 });
  });

  it("skips a record it cannot read, logs and counts it once, and sweeps every other one", async () => {
    const lost = [await accept(90_000), await accept(80_000)];
    const corrupt = await accept(75_000);
    const newer = await accept(70_000);
    const later = await accept(65_000);
    const key = (op: string) => operationKeys(prefix, PROJECT, op).record;
    // A record whose operation is not JSON at all, among lost jobs.
    await connection.hset(key(corrupt.operation), "op", "{not json");
    // A request from a release this one does not know (a rolling upgrade): the sweeper needs
    // only the pointer, so it queues the job; a worker that can read it will run it.
    await connection.hset(key(newer.operation), "rq", JSON.stringify({ ...newer, v: 99 }));
    const lines: { key?: string; msg?: string }[] = [];
    const log = pino(
      { level: "error" },
      { write: (line: string) => lines.push(JSON.parse(line) as { key?: string; msg?: string }) },
    );
    let counted = 0;
    const s = sweeper({ log, onUnreadable: () => (counted += 1) });
    expect(await s.sweepOnce()).toEqual({ requeued: 4, swept: true });
    for (const job of [...lost, newer, later])
      expect((await queue.info(job.operation)).status).toBe("live");
    expect((await queue.info(corrupt.operation)).status).toBe("missing");
    // The next sweep meets it again: still skipped, not logged or counted again.
    expect(await s.sweepOnce()).toEqual({ requeued: 0, swept: true });
    expect(counted).toBe(1);
    expect(lines.map((l) => l.key)).toEqual([key(corrupt.operation)]);
    expect(lines[0]?.msg).toMatch(/cannot read this operation's record and skips it/);
  });

  it("skips a record or a job whose key holds another type (WRONGTYPE), and sweeps the rest", async () => {
    const before = await accept(90_000);
    const badRecord = await accept(80_000);
    const badJob = await accept(75_000);
    const after = await accept(70_000);
    // Keys some other program overwrote: a string where the record's hash was, and where the
    // BullMQ job's hash would be.
    await connection.set(operationKeys(prefix, PROJECT, badRecord.operation).record, "x");
    const jobKey = `{${prefix}:queue}:create-image:${badJob.operation}`;
    await connection.set(jobKey, "x");
    const lines: { key?: string; operation?: string }[] = [];
    const log = pino(
      { level: "error" },
      { write: (line: string) => lines.push(JSON.parse(line) as { key?: string }) },
    );
    let counted = 0;
    const s = sweeper({ log, onUnreadable: () => (counted += 1) });
    expect(await s.sweepOnce()).toEqual({ requeued: 2, swept: true });
    for (const job of [before, after])
      expect((await queue.info(job.operation)).status).toBe("live");
    // Neither is touched: the job's key still holds what was there.
    expect(await connection.get(jobKey)).toBe("x");
    expect(counted).toBe(2);
    expect(lines.map((l) => l.operation).sort()).toEqual(
      [badRecord.operation, badJob.operation].sort(),
    );
  });

  it("lets one worker of the deployment sweep at a time", async () => {
    await accept(60_000);
    const results = await Promise.all([sweeper().sweepOnce(), sweeper().sweepOnce()]);
    expect(results.map((r) => r.swept).sort()).toEqual([false, true]);
    expect(results.reduce((n, r) => n + r.requeued, 0)).toBe(1);
  });

  it("stops at once while Redis is down, without waiting on the sweep stuck on it", async () => {
    const server = await startRedisServer();
    const down = new Redis(server.url, { maxRetriesPerRequest: null });
    down.on("error", () => undefined);
    try {
      await server.kill();
      // A scheduled sweep starts and blocks: with maxRetriesPerRequest: null (BullMQ's
      // connection), its first command waits for Redis forever.
      const s = startSweeper({
        store: createOperationStore({ redis: down, prefix, pubsub: "classic", retentionMs: DAY }),
        queue,
        redis: down,
        prefix,
        log: pino({ level: "silent" }),
        intervalMs: 20,
        graceMs: 0,
      });
      await new Promise((r) => setTimeout(r, 200));
      // Whatever stop() returns is awaited: a stop that waited on the stuck sweep would hang here.
      const stop: () => unknown = s.stop.bind(s);
      const stopped = await Promise.race([
        Promise.resolve(stop()).then(() => "stopped"),
        new Promise((r) => {
          setTimeout(() => {
            r("waited on Redis");
          }, 2000);
        }),
      ]);
      expect(stopped).toBe("stopped");
    } finally {
      down.disconnect();
      await server.close();
    }
  });
});
