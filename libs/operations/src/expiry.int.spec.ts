// Expiry: every key of an operation goes with the retention, and an index never goes before the
// records of its members, although the scripts renew an index's expiry once per slack period and
// leave a young record's alone.
import { clone, create } from "@bufbuild/protobuf";
import { useTestRedis, type TestRedis } from "@imagesvc/testing";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import { randomBytes, randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOperationStore, operationKeys, type OperationStore } from "./index";

const RETENTION_MS = 4000;
/** The slack the store derives: the retention ÷ 16. */
const SLACK_MS = RETENTION_MS / 16;
let redis: TestRedis;

beforeEach(async () => {
  redis = await useTestRedis();
});
afterEach(async () => {
  await redis.cleanup();
});

const prefix = () => redis.prefix.slice(0, -1);
/** A store as one process holds it: its own memory of the indexes it renewed. */
const newStore = (): OperationStore =>
  createOperationStore({
    redis: redis.client,
    prefix: prefix(),
    pubsub: "classic",
    retentionMs: RETENTION_MS,
  });

function pending(): Operation {
  const now = Date.now();
  return create(OperationSchema, {
    kind: "compute#operation",
    project: "expiry-project",
    name: `operation-${now}-${randomBytes(16).toString("hex")}`,
    status: Operation_Status.PENDING,
    operationType: "insert",
    insertTime: new Date(now).toISOString(),
  });
}
async function createIn(store: OperationStore): Promise<Operation> {
  const { operation } = await store.create({
    operation: pending(),
    requestId: randomUUID(),
    fingerprint: "fp",
    request: "{}",
    notification: "",
    lifecycle: "accepted",
  });
  return operation;
}
const withStatus = (op: Operation, status: Operation_Status, progress: number) => {
  const copy = clone(OperationSchema, op);
  copy.status = status;
  copy.progress = progress;
  return copy;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Every index member's record expires no later than its index (each status's, and the index of
 * all operations): read in one MULTI, so at one instant.
 */
async function expectIndexesOutliveRecords() {
  const keys = operationKeys(prefix(), "expiry-project", "");
  const statuses = [Operation_Status.PENDING, Operation_Status.RUNNING, Operation_Status.DONE];
  for (const index of [keys.all, ...statuses.map((status) => keys.byStatus(status))]) {
    const members = await redis.client.zrange(index, 0, -1);
    if (members.length === 0) continue;
    const multi = redis.client.multi().pttl(index);
    for (const member of members)
      multi.pttl(operationKeys(prefix(), "expiry-project", member.slice(14)).record);
    const [indexTtl, ...recordTtls] = ((await multi.exec()) ?? []).map(([, v]) => Number(v));
    expect(indexTtl, index).toBeGreaterThan(0);
    for (const ttl of recordTtls) expect(ttl).toBeLessThanOrEqual(indexTtl ?? 0);
  }
}

describe("expiry", () => {
  it("keeps every index alive past its members' records, with two processes writing over time", async () => {
    const stores = [newStore(), newStore()];
    const ops: Operation[] = [];
    // About two slack periods of creates and status changes, alternating between the processes.
    for (let round = 0; round < 24; round++) {
      const store = stores[round % 2] as OperationStore;
      ops.push(await createIn(store));
      const older = ops[Math.floor(ops.length / 2)];
      if (older !== undefined && round % 3 === 0)
        await store.update(withStatus(older, Operation_Status.RUNNING, 10));
      if (round % 4 === 1) {
        const last = ops.at(-2);
        if (last !== undefined) await store.update(withStatus(last, Operation_Status.DONE, 100));
      }
      await expectIndexesOutliveRecords();
      await sleep(SLACK_MS / 6);
    }
  });

  it("keeps the index of all operations past a record that DONE gave the retention again", async () => {
    const store = newStore();
    const op = await createIn(store);
    // No create since: only the DONE can renew the index of all operations.
    await sleep(SLACK_MS * 3);
    await store.update(withStatus(op, Operation_Status.DONE, 100));
    await expectIndexesOutliveRecords();
  });

  it("leaves a young record's expiry to its create, renews it on later writes, and gives it the whole retention at DONE", async () => {
    const store = newStore();
    const op = await createIn(store);
    const record = operationKeys(prefix(), op.project, op.name).record;
    await sleep(50);
    const before = await redis.client.pttl(record);
    // A lifecycle step within the slack after the create: the expiry the create set stays.
    const step = await store.commit({
      project: op.project,
      name: op.name,
      expectedSeq: 0,
      lifecycle: "dispatched",
    });
    expect(step.status).toBe("committed");
    expect(await redis.client.pttl(record)).toBeLessThanOrEqual(before);
    expect(await redis.client.pttl(record)).toBeGreaterThan(RETENTION_MS - SLACK_MS);
    // Past the slack, a step renews it.
    await sleep(SLACK_MS + 50);
    await store.commit({
      project: op.project,
      name: op.name,
      expectedSeq: 1,
      lifecycle: "following",
    });
    expect(await redis.client.pttl(record)).toBeGreaterThan(RETENTION_MS - 50);
    // DONE always gives the retention from DONE.
    const fresh = await createIn(store);
    const freshRecord = operationKeys(prefix(), fresh.project, fresh.name).record;
    await sleep(100);
    await store.update(withStatus(fresh, Operation_Status.DONE, 100));
    expect(await redis.client.pttl(freshRecord)).toBeGreaterThan(RETENTION_MS - 50);
  });

  it("lets every key go once the retention and the slack have passed", async () => {
    const store = newStore();
    const op = await createIn(store);
    await store.update(withStatus(op, Operation_Status.DONE, 100));
    await createIn(store);
    expect((await redis.client.keys(`${redis.prefix}*`)).length).toBeGreaterThan(0);
    await sleep(RETENTION_MS + SLACK_MS + 200);
    // The project's activity mark outlives the retention by a minute, on purpose (keys.ts).
    expect(await redis.client.keys(`${redis.prefix}*`)).toEqual([
      `${redis.prefix}project-activity`,
    ]);
  });
});
