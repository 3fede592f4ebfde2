import { create } from "@bufbuild/protobuf";
import { createComputeClient } from "@imagesvc/compute";
import { startComputeEmulator, type ComputeEmulator } from "@imagesvc/compute-emulator";
import { decideCancel } from "@imagesvc/lifecycle";
import { loadSubject, operationKeys, step, type OperationStore } from "@imagesvc/operations";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import { type ImageQueue, type StoredRequest } from "@imagesvc/queue";
import { type TestRedis } from "@imagesvc/testing";
import { OAuth2Client } from "google-auth-library";
import { Redis } from "ioredis";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createImageWorker, type ImageWorker, type ImageWorkerOptions } from "./image-worker";
import { acceptOperation, DAY, pointerOf, PROJECT, useWorkerRedis } from "./redis.test-helper";

/** COMPUTE_TIMEOUT_MS and COMPUTE_WAIT_TIMEOUT_MS, as the deployment's defaults. */
const TIMEOUTS = { timeoutMs: 30_000, waitTimeoutMs: 150_000 };

let emulator: ComputeEmulator;
let redis: TestRedis;
let connection: Redis;
let store: OperationStore;
let queue: ImageQueue;
let prefix: string;
const workers: ImageWorker[] = [];

beforeAll(async () => {
  emulator = await startComputeEmulator({
    staticTokens: ["t"],
    operationDurationMs: 300,
    waitCapMs: 80,
  });
});
afterAll(async () => {
  await emulator.close();
});
const shared = useWorkerRedis({ attempts: 4, backoffMs: 20 }, async () => {
  for (const w of workers.splice(0)) await w.close(2000);
  emulator.admin.reset();
  emulator.admin.configure({ operationDurationMs: 300, waitCapMs: 80 });
});
beforeEach(() => ({ redis, connection, store, queue, prefix } = shared));

function startWorker(overrides: Partial<ImageWorkerOptions> = {}): ImageWorker {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: "t", expiry_date: Date.now() + 3_600_000 });
  const worker = createImageWorker({
    connection,
    store,
    compute: createComputeClient({
      ...TIMEOUTS,
      endpoint: emulator.url,
      auth,
    }),
    log: pino({ level: "silent" }),
    prefix,
    concurrency: 50,
    lockDurationMs: 30_000,
    maxStalledCount: 5,
    attempts: 4,
    backoffMs: 20,
    retentionMs: DAY,
    insertWindowMs: 30 * 60_000,
    retryBackoff: { initialMs: 5, maxMs: 20 },
    minWaitIntervalMs: 0,
    imagePollMs: 50,
    familyClaimMs: 10_000,
    reconcileIntervalMs: 60_000,
    sweepIntervalMs: 60_000,
    sweepGraceMs: 60_000,
    // Unanswered inserts are settled within a second, 404s count after 100 ms.
    requestIdMemoryMs: 1000,
    settleMs: 500,
    notFoundGraceMs: 100,
    ...overrides,
  });
  workers.push(worker);
  return worker;
}

/** Records a PENDING operation as the gateway does, and returns its job. */
function accept(
  imageName = `web-${randomBytes(3).toString("hex")}`,
  object = "web.tar.gz",
): Promise<StoredRequest> {
  return acceptOperation(
    store,
    { name: imageName, rawDisk: { source: `https://storage.googleapis.com/b-1/${object}` } },
    {
      operation: {
        kind: "compute#operation",
        targetLink: `https://compute.googleapis.com/compute/v1/projects/${PROJECT}/global/images/${imageName}`,
        user: "alice",
      },
    },
  );
}

/** Every version published for an operation, until DONE. */
async function published(job: StoredRequest, run: () => Promise<unknown>): Promise<Operation[]> {
  const subscriber = new Redis(redis.url);
  const seen: Operation[] = [];
  const done = new Promise<void>((resolve) => {
    subscriber.on("message", (_channel: string, message: string) => {
      const json = message.slice(message.indexOf(" ") + 1);
      seen.push(create(OperationSchema, JSON.parse(json) as never));
      if ((JSON.parse(json) as { status?: string }).status === "DONE") resolve();
    });
  });
  await subscriber.subscribe(operationKeys(prefix, job.project, job.operation).channel);
  await run();
  await done;
  await subscriber.quit();
  return seen;
}

async function doneOperation(job: StoredRequest, timeoutMs = 10_000): Promise<Operation> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const op = await store.get(job.project, job.operation);
    if (op?.status === Operation_Status.DONE) return op;
    if (Date.now() > deadline)
      throw new Error(
        `operation still ${op === undefined ? "missing" : Operation_Status[op.status]}`,
      );
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the image worker", () => {
  it("inserts, follows to DONE and publishes each change as a new version", async () => {
    startWorker();
    const job = await accept("web");
    const versions = await published(job, () => queue.add(pointerOf(job)));
    const statuses = versions.map((v) => (v as unknown as { status: string }).status);
    expect(statuses.at(-1)).toBeDefined();
    const final = await doneOperation(job);
    expect(final).toMatchObject({
      status: Operation_Status.DONE,
      progress: 100,
      user: "alice",
      clientOperationId: job.requestId,
    });
    expect(final.targetId).toMatch(/^\d+$/);
    expect(final.computeOperation).toContain("/global/operations/");
    expect(final.error).toBeUndefined();
    expect(final.version).toBe(versions.length + 1);
    expect(emulator.admin.state().images.map((i) => [i.name, i.status])).toEqual([
      ["web", "READY"],
    ]);
  });

  it("retries 503 and 429 on insert with the same requestId and makes one image", async () => {
    startWorker();
    emulator.admin.addFault({ route: "images.insert", effect: "error", status: 503, count: 1 });
    emulator.admin.addFault({ route: "images.insert", effect: "error", status: 429, count: 1 });
    const job = await accept();
    await queue.add(pointerOf(job));
    const final = await doneOperation(job);
    expect(final.error).toBeUndefined();
    expect(emulator.admin.state().insertCalls[job.requestId]).toBe(3);
    expect(emulator.admin.state().images).toHaveLength(1);
  });

  it("makes one image when the insert's answer is lost after Compute created it", async () => {
    startWorker();
    emulator.admin.addFault({ route: "images.insert", effect: "reset", phase: "after", count: 1 });
    const job = await accept();
    await queue.add(pointerOf(job));
    expect((await doneOperation(job)).error).toBeUndefined();
    expect(emulator.admin.state().images).toHaveLength(1);
    expect(emulator.admin.state().insertCalls[job.requestId]).toBe(2);
  });

  it("ends DONE with Compute's error on a final error, without retrying", async () => {
    startWorker();
    const first = await accept("taken");
    await queue.add(pointerOf(first));
    await doneOperation(first);
    const second = await accept("taken");
    await queue.add(pointerOf(second));
    const final = await doneOperation(second);
    expect(final.httpErrorStatusCode).toBe(409);
    expect(final.httpErrorMessage).toBe("CONFLICT");
    expect(final.error?.errors[0]).toMatchObject({ code: "RESOURCE_ALREADY_EXISTS" });
    expect(emulator.admin.state().insertCalls[second.requestId]).toBe(1);
  });

  it("ends DONE with the asynchronous error when the operation fails in Compute", async () => {
    startWorker();
    const job = await accept("web", "missing.tar.gz");
    await queue.add(pointerOf(job));
    const final = await doneOperation(job);
    expect(final).toMatchObject({ httpErrorStatusCode: 404, httpErrorMessage: "NOT FOUND" });
    expect(final.error?.errors[0]?.code).toBe("RESOURCE_NOT_FOUND");
  });

  it("ends DONE with an error that says so when the insert window runs out, once the image's absence has settled it", async () => {
    startWorker({ insertWindowMs: 300, requestIdMemoryMs: 300, settleMs: 300 });
    emulator.admin.addFault({ route: "images.insert", effect: "error", status: 503 });
    const job = await accept();
    await queue.add(pointerOf(job));
    const final = await doneOperation(job);
    expect(final.httpErrorStatusCode).toBe(503);
    expect(final.error?.errors[0]?.message).toMatch(
      /^gave up after \d+ attempts over \d+ s; last error: The service is currently unavailable.*; Compute showed no image of this request \d+ s after the last attempt without an answer$/,
    );
    expect(emulator.admin.state().insertCalls[job.requestId]).toBeGreaterThan(1);
    // A 503 may have been answered after the insert took effect: the image settles it, and no
    // single look at it does.
    expect(emulator.admin.state().calls["images.get"]).toBeGreaterThanOrEqual(2);
    expect(emulator.admin.state().images).toEqual([]);
  });

  it("skips a job whose operation was cancelled", async () => {
    startWorker();
    const job = await accept();
    const subject = await loadSubject(store, PROJECT, job.operation);
    if (subject === undefined) throw new Error("no record");
    const now = Date.now();
    const cancelled = await step(store, subject, (s) => decideCancel(s, "alice", now));
    expect(cancelled.subject.lifecycle).toEqual({ phase: "done", outcome: "cancelled" });
    await queue.add(pointerOf(job));
    for (let i = 0; i < 100 && (await queue.info(job.operation)).status !== "finished"; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await queue.info(job.operation)).toMatchObject({ status: "finished" });
    expect(emulator.admin.state().calls["images.insert"]).toBeUndefined();
  });

  it("queues a lost job again from the sweeper and finishes it", async () => {
    const worker = startWorker({ sweepGraceMs: 0 });
    const job = await accept();
    expect(await worker.sweepOnce()).toEqual({ requeued: 1, swept: true });
    expect((await doneOperation(job)).error).toBeUndefined();
    expect(emulator.admin.state().images).toHaveLength(1);
  });

  it("hands active jobs back on close, and another worker finishes them with one image", async () => {
    emulator.admin.configure({ operationDurationMs: 3000, waitCapMs: 60_000 });
    const first = startWorker();
    const job = await accept();
    await queue.add(pointerOf(job));
    for (
      let i = 0;
      i < 100 && emulator.admin.state().calls["globalOperations.wait"] === undefined;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const started = Date.now();
    workers.splice(workers.indexOf(first), 1);
    await first.close(5000);
    expect(Date.now() - started).toBeLessThan(2000);
    const handedBack = await queue.info(job.operation);
    expect(handedBack).toMatchObject({ status: "live", attemptsMade: 0 });

    startWorker();
    expect((await doneOperation(job)).error).toBeUndefined();
    expect(emulator.admin.state().images).toHaveLength(1);
    // The re-run resumed the recorded Compute operation: it did not insert again.
    expect(emulator.admin.state().insertCalls[job.requestId]).toBe(1);
  });
});
