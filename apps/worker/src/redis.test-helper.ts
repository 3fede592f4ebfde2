// What the worker's integration specs share: a fresh Redis namespace per test with the store and
// queue a gateway would write to, and a PENDING operation recorded as the gateway records it.
import { create, toJson, type MessageInitShape } from "@bufbuild/protobuf";
import { ACCEPTED, encodeLifecycle } from "@imagesvc/lifecycle";
import { createOperationStore, type OperationStore } from "@imagesvc/operations";
import { ImageSchema, Operation_Status, OperationSchema } from "@imagesvc/proto";
import { createImageQueue, jobPointer, type ImageQueue, type StoredRequest } from "@imagesvc/queue";
import { useTestRedis, type TestRedis } from "@imagesvc/testing";
import { Redis } from "ioredis";
import { randomBytes, randomUUID } from "node:crypto";
import { afterEach, beforeEach } from "vitest";

export const DAY = 24 * 3600_000;
export const PROJECT = "my-project";

/** The job a gateway queues for a stored request: a pointer to its operation. */
export const pointerOf = (job: StoredRequest) => jobPointer(job.project, job.operation);

/** The test's Redis pieces; each field is replaced before every test. */
export interface WorkerRedis {
  redis: TestRedis;
  connection: Redis;
  store: OperationStore;
  queue: ImageQueue;
  prefix: string;
}

/**
 * Registers the hooks that give every test a fresh namespace, and returns the object they fill.
 * `beforeClose` runs first in each afterEach (stop workers, sweepers) while Redis is still up.
 */
export function useWorkerRedis(
  queueOptions: { attempts: number; backoffMs: number },
  beforeClose: () => Promise<void> | void,
): WorkerRedis {
  const state = {} as WorkerRedis;
  beforeEach(async () => {
    state.redis = await useTestRedis();
    state.prefix = state.redis.prefix.slice(0, -1);
    state.connection = new Redis(state.redis.url, { maxRetriesPerRequest: null });
    state.store = createOperationStore({
      redis: state.connection,
      prefix: state.prefix,
      pubsub: "classic",
      retentionMs: DAY,
    });
    state.queue = createImageQueue({
      connection: state.connection,
      prefix: state.prefix,
      retentionMs: DAY,
      ...queueOptions,
    });
  });
  afterEach(async () => {
    await beforeClose();
    await state.queue.obliterate();
    await state.queue.close();
    state.connection.disconnect();
    await state.redis.cleanup();
  });
  return state;
}

/**
 * Records a PENDING operation accepted at `acceptedMs` for `image`, as the gateway
 * does, with `operation`'s fields on top; returns its stored request.
 */
export async function acceptOperation(
  store: OperationStore,
  image: MessageInitShape<typeof ImageSchema>,
  {
    acceptedMs = Date.now(),
    operation = {},
  }: { acceptedMs?: number; operation?: MessageInitShape<typeof OperationSchema> } = {},
): Promise<StoredRequest> {
  const name = `operation-${acceptedMs}-${randomBytes(16).toString("hex")}`;
  const requestId = randomUUID();
  const job: StoredRequest = {
    v: 1,
    project: PROJECT,
    operation: name,
    requestId,
    image: toJson(ImageSchema, create(ImageSchema, image)) as Record<string, unknown>,
    forceCreate: false,
    acceptedMs,
  };
  await store.create({
    operation: create(OperationSchema, {
      project: PROJECT,
      name,
      status: Operation_Status.PENDING,
      clientOperationId: requestId,
      insertTime: new Date(acceptedMs).toISOString(),
      ...operation,
    }),
    requestId,
    fingerprint: "fp",
    request: JSON.stringify(job),
    notification: "",
    lifecycle: encodeLifecycle(ACCEPTED),
  });
  return job;
}
