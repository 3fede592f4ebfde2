import { clone, create } from "@bufbuild/protobuf";
import {
  startRedisServer,
  useTestRedis,
  type RedisServer,
  type TestRedis,
} from "@imagesvc/testing";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import { once } from "node:events";
import { randomBytes, randomUUID } from "node:crypto";
import { subscriberOf } from "@imagesvc/redis";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createOperationBus,
  createOperationStore,
  OperationNotFoundError,
  operationKeys,
  type OperationBus,
  type OperationBusOptions,
  type OperationStore,
  type OperationStoreOptions,
  type CreateInput,
} from "./index";
import { HISTORY_MAX, RECORD_FIELDS } from "./keys";

const DAY = 24 * 3600_000;
let redis: TestRedis;
let store: OperationStore;
const closers: (() => unknown)[] = [];

/** A store on the test's Redis, classic pub/sub, records kept a day; `options` override that. */
function storeWith(options: Partial<OperationStoreOptions> = {}): OperationStore {
  return createOperationStore({
    redis: redis.client,
    prefix: redis.prefix.slice(0, -1),
    pubsub: "classic",
    retentionMs: DAY,
    ...options,
  });
}

beforeEach(async () => {
  redis = await useTestRedis();
  store = storeWith();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await redis.cleanup();
});

function pending(project = "my-project", insertMs = Date.now()): Operation {
  return create(OperationSchema, {
    kind: "compute#operation",
    project,
    name: `operation-${insertMs}-${randomBytes(16).toString("hex")}`,
    status: Operation_Status.PENDING,
    operationType: "insert",
    insertTime: new Date(insertMs).toISOString(),
  });
}
/** What `create` takes for `operation`, a fresh request id and the rest fixed; `overrides` replace any. */
function input(operation: Operation, overrides: Partial<CreateInput> = {}): CreateInput {
  return {
    operation,
    requestId: randomUUID(),
    fingerprint: "fp",
    request: "{}",
    notification: "",
    lifecycle: "accepted",
    ...overrides,
  };
}
async function createOp(op = pending(), requestId = randomUUID()) {
  const result = await store.create(input(op, { requestId }));
  return { op: result.operation, requestId, result };
}
function next(
  op: Operation,
  fields: Partial<Pick<Operation, "status" | "progress" | "statusMessage">>,
): Operation {
  const copy = clone(OperationSchema, op);
  Object.assign(copy, fields);
  return copy;
}
/** A bus on the test's Redis with its own subscriber connection; `options` override the defaults. */
function newBus(options: Partial<Omit<OperationBusOptions, "subscriber">> = {}): OperationBus {
  const client = new Redis(redis.url);
  const bus = createOperationBus({
    subscriber: subscriberOf(client, "classic"),
    store,
    prefix: redis.prefix.slice(0, -1),
    ...options,
  });
  closers.push(async () => {
    bus.close();
    await client.quit();
  });
  return bus;
}
/**
 * A command connection and a subscriber connection to `url` that retries every 50 ms while Redis
 * is away (neither gives up on a command); both disconnected after the test.
 */
function reconnecting(url: string): { command: Redis; subscriber: Redis } {
  const command = new Redis(url, { maxRetriesPerRequest: null });
  const subscriber = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
  closers.push(() => {
    command.disconnect();
    subscriber.disconnect();
  });
  return { command, subscriber };
}
/** Watches `op` on `bus` until the watch ends: `seen` fills as it goes; `done` settles at the end. */
function watchAll(bus: OperationBus, op: Operation) {
  const seen: Operation[] = [];
  const done = (async () => {
    for await (const o of bus.watch("my-project", op.name, new AbortController().signal))
      seen.push(o);
  })();
  return { seen, done };
}
/** Creates a PENDING operation in `into` and watches it on `bus` until DONE; `seen` fills as it goes. */
async function createAndWatch(into: OperationStore, bus: OperationBus) {
  const op = pending();
  await into.create(input(op));
  const { seen, done } = watchAll(bus, op);
  // Let the watch subscribe and read its snapshot.
  await new Promise((r) => setTimeout(r, 100));
  return { op, seen, done };
}
async function collect(iterable: AsyncIterable<Operation>): Promise<Operation[]> {
  const out: Operation[] = [];
  for await (const op of iterable) out.push(op);
  return out;
}

describe("OperationStore", () => {
  it("creates version 1 and returns the existing operation when the request id repeats", async () => {
    const { op, requestId, result } = await createOp();
    expect(result.created).toBe(true);
    expect(op.version).toBe(1);
    const again = await store.create(input(pending(), { requestId, fingerprint: "other" }));
    expect(again).toMatchObject({ created: false, fingerprint: "fp" });
    expect(again.operation.name).toBe(op.name);
    expect((await store.get("my-project", op.name))?.version).toBe(1);
  });

  it("keeps request ids per project", async () => {
    const { requestId } = await createOp(pending("project-a"));
    const other = await store.create(input(pending("project-b"), { requestId }));
    expect(other.created).toBe(true);
  });

  it("finds nothing for another project's operation", async () => {
    const { op } = await createOp(pending("project-a"));
    expect(await store.get("project-b", op.name)).toBeUndefined();
  });

  it("versions each real change and refuses steps backwards", async () => {
    const { op } = await createOp();
    expect(await store.update(next(op, { status: Operation_Status.RUNNING, progress: 10 }))).toBe(
      2,
    );
    expect(
      await store.update(next(op, { status: Operation_Status.RUNNING, progress: 10 })),
    ).toBeUndefined(); // same state
    expect(
      await store.update(next(op, { status: Operation_Status.RUNNING, progress: 5 })),
    ).toBeUndefined(); // progress back
    expect(
      await store.update(next(op, { status: Operation_Status.PENDING, progress: 50 })),
    ).toBeUndefined(); // status back
    expect(
      await store.update(
        next(op, { status: Operation_Status.RUNNING, progress: 10, statusMessage: "copying" }),
      ),
    ).toBe(3);
    expect(await store.update(next(op, { status: Operation_Status.DONE, progress: 100 }))).toBe(4);
    expect(
      await store.update(
        next(op, { status: Operation_Status.DONE, progress: 100, statusMessage: "late" }),
      ),
    ).toBeUndefined(); // DONE is final
    expect(await store.get("my-project", op.name)).toMatchObject({
      version: 4,
      status: Operation_Status.DONE,
    });
    expect(
      await store.update(next(pending(), { status: Operation_Status.RUNNING })),
    ).toBeUndefined(); // no record
  });

  it("keeps every version in the record's history, oldest first, bounded at HISTORY_MAX", async () => {
    const op = pending();
    const request = JSON.stringify({ v: 4, image: { name: "web" }, sealed: { "x.rawKey": "S" } });
    await store.create(input(op, { request, notification: '{"url":"https://h/x","on":["DONE"]}' }));
    await store.update(next(op, { status: Operation_Status.RUNNING, progress: 10 }));
    await store.update(next(op, { status: Operation_Status.RUNNING, progress: 5 })); // refused
    await store.update(next(op, { status: Operation_Status.RUNNING, progress: 20 }));
    const running = await store.history("my-project", op.name);
    expect(running?.versions.map((v) => [v.version, v.status, v.progress])).toEqual([
      [1, Operation_Status.PENDING, 0],
      [2, Operation_Status.RUNNING, 10],
      [3, Operation_Status.RUNNING, 20],
    ]);
    expect(running?.request).toBe(request);
    expect(running?.notification).toContain("https://h/x");

    // Past the bound the oldest go: HISTORY_MAX versions in all, the latest last.
    for (let i = 0; i < HISTORY_MAX; i++)
      await store.update(
        next(op, { status: Operation_Status.RUNNING, progress: 20, statusMessage: `step ${i}` }),
      );
    await store.update(next(op, { status: Operation_Status.DONE, progress: 100 }));
    const done = await store.history("my-project", op.name);
    const versions = done?.versions.map((v) => v.version) ?? [];
    expect(versions).toHaveLength(HISTORY_MAX);
    const latest = (await store.get("my-project", op.name))?.version ?? 0;
    expect(versions.at(-1)).toBe(latest);
    expect(versions).toEqual(
      Array.from({ length: HISTORY_MAX }, (_, i) => latest - HISTORY_MAX + 1 + i),
    );
    // At DONE the job payload goes; what was asked stays, its sealed keys left out.
    const record = await redis.client.hgetall(
      operationKeys(redis.prefix.slice(0, -1), "my-project", op.name).record,
    );
    expect(record[RECORD_FIELDS.request]).toBe("");
    expect(JSON.parse(done?.request ?? "")).toEqual({ v: 4, image: { name: "web" } });
  });

  it("has no history for an unknown operation", async () => {
    expect(await store.history("my-project", pending().name)).toBeUndefined();
  });

  it("gives concurrent writers strictly increasing versions", async () => {
    const { op } = await createOp();
    const versions = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.update(next(op, { status: Operation_Status.RUNNING, progress: i + 1 })),
      ),
    );
    const written = versions.filter((v): v is number => v !== undefined);
    expect(new Set(written).size).toBe(written.length);
    expect((await store.get("my-project", op.name))?.progress).toBe(50);
  });

  it("lists newest first, by status, one page at a time", async () => {
    const base = Date.now() - 10_000;
    const ops: Operation[] = [];
    for (let i = 0; i < 5; i++)
      ops.push((await createOp(pending("my-project", base + i * 1000))).op);
    await store.update(next(ops[1] as Operation, { status: Operation_Status.DONE, progress: 100 }));
    await createOp(pending("another-project"));

    const names = (list: Operation[]) => list.map((o) => o.name);
    const all = await store.list("my-project");
    expect(names(all.items)).toEqual(names([...ops].reverse()));
    expect(all.nextPageToken).toBe("");

    const first = await store.list("my-project", { maxResults: 2 });
    const second = await store.list("my-project", {
      maxResults: 2,
      pageToken: first.nextPageToken,
    });
    const third = await store.list("my-project", {
      maxResults: 2,
      pageToken: second.nextPageToken,
    });
    expect([...names(first.items), ...names(second.items), ...names(third.items)]).toEqual(
      names([...ops].reverse()),
    );
    expect(third.nextPageToken).toBe("");

    expect(
      names((await store.list("my-project", { status: Operation_Status.DONE })).items),
    ).toEqual([ops[1]?.name]);
    expect(
      (await store.list("my-project", { status: Operation_Status.PENDING })).items,
    ).toHaveLength(4);
  });

  it("expires records after the retention period", async () => {
    const short = storeWith({ retentionMs: 500 });
    const op = pending();
    await short.create(input(op));
    expect(await short.get("my-project", op.name)).toBeDefined();
    await new Promise((r) => setTimeout(r, 700));
    expect(await short.get("my-project", op.name)).toBeUndefined();
    expect((await short.list("my-project")).items).toEqual([]);
  });

  it("lists past index members whose records expired, removes them, and still fills the page", async () => {
    const short = storeWith({ retentionMs: 500 });
    const done = async () => {
      const op = pending();
      const created = await short.create(input(op));
      await short.update(next(created.operation, { status: Operation_Status.DONE, progress: 100 }));
      return created.operation;
    };
    for (let i = 0; i < 5; i++) await done();
    await new Promise((r) => setTimeout(r, 350));
    const fresh = [await done(), await done()];
    // The first five records expire; the DONE index lives on, kept alive by the fresh writes.
    await new Promise((r) => setTimeout(r, 300));
    const index = operationKeys(redis.prefix.slice(0, -1), "my-project", "").byStatus(
      Operation_Status.DONE,
    );
    expect(await redis.client.zcard(index)).toBe(7);
    const page = await short.list("my-project", { status: Operation_Status.DONE, maxResults: 10 });
    expect(page.items.map((o) => o.name).sort()).toEqual(fresh.map((o) => o.name).sort());
    expect(page.nextPageToken).toBe("");
    expect(await redis.client.zcard(index)).toBe(2);
  });

  it("finds operations older than a bound in a status, oldest first, page by page to the end", async () => {
    const olds = [];
    for (let i = 0; i < 5; i++)
      olds.push((await createOp(pending("my-project", Date.now() - 60_000 + i * 1000))).op.name);
    await createOp(pending("my-project", Date.now()));
    const seen: string[] = [];
    let cursor = "";
    let pages = 0;
    do {
      const page = await store.namesCreatedBefore(
        "my-project",
        Operation_Status.PENDING,
        Date.now() - 30_000,
        {
          limit: 2,
          cursor,
        },
      );
      seen.push(...page.names);
      cursor = page.cursor;
      pages += 1;
    } while (cursor !== "");
    expect(seen).toEqual(olds);
    expect(pages).toBe(3);
    expect(await store.projects()).toContain("my-project");
  });

  it("commits a lifecycle step only against the sequence number it was decided on", async () => {
    const { op } = await createOp();
    const address = { project: op.project, name: op.name };
    expect(await store.getStored(op.project, op.name)).toMatchObject({
      lifecycle: "accepted",
      seq: 0,
    });
    // Two deciders read seq 0; the first commit wins, the second sees a conflict and writes nothing.
    const first = await store.commit({
      ...address,
      expectedSeq: 0,
      lifecycle: "dispatched",
    });
    const second = await store.commit({
      ...address,
      expectedSeq: 0,
      lifecycle: "cancelled",
      operation: next(op, { status: Operation_Status.DONE, progress: 100 }),
    });
    expect(first).toEqual({ status: "committed", seq: 1, version: undefined });
    expect(second).toEqual({ status: "conflict" });
    expect(await store.getStored(op.project, op.name)).toMatchObject({
      lifecycle: "dispatched",
      seq: 1,
      operation: { status: Operation_Status.PENDING, version: 1 },
    });
    // A step with a version writes and publishes both at once.
    const third = await store.commit({
      ...address,
      expectedSeq: 1,
      lifecycle: "following",
      operation: next(op, { status: Operation_Status.RUNNING, progress: 5 }),
    });
    expect(third).toEqual({ status: "committed", seq: 2, version: 2 });
    expect(
      await store.commit({
        project: op.project,
        name: "operation-gone",
        expectedSeq: 0,
        lifecycle: "x",
      }),
    ).toEqual({ status: "missing" });
  });
});

describe("OperationBus", () => {
  it("sends the snapshot first, then every newer version, and ends after DONE", async () => {
    const bus = newBus();
    const { op } = await createOp();
    const seen = collect(bus.watch("my-project", op.name, new AbortController().signal));
    await new Promise((r) => setTimeout(r, 50));
    for (let p = 10; p <= 50; p += 20)
      await store.update(next(op, { status: Operation_Status.RUNNING, progress: p }));
    await store.update(next(op, { status: Operation_Status.DONE, progress: 100 }));
    const versions = (await seen).map((o) => [o.version, Operation_Status[o.status], o.progress]);
    expect(versions).toEqual([
      [1, "PENDING", 0],
      [2, "RUNNING", 10],
      [3, "RUNNING", 30],
      [4, "RUNNING", 50],
      [5, "DONE", 100],
    ]);
    expect(bus.stats()).toMatchObject({ channels: 0, watchers: 0 });
  });

  it("gives a watcher that arrives after DONE the final state and ends", async () => {
    const bus = newBus();
    const { op } = await createOp();
    await store.update(next(op, { status: Operation_Status.DONE, progress: 100 }));
    const seen = await collect(bus.watch("my-project", op.name, new AbortController().signal));
    expect(seen.map((o) => o.version)).toEqual([2]);
  });

  it("throws OperationNotFoundError for an unknown operation and releases its channel", async () => {
    const bus = newBus();
    await expect(
      collect(bus.watch("my-project", "operation-nope", new AbortController().signal)),
    ).rejects.toBeInstanceOf(OperationNotFoundError);
    expect(bus.stats()).toMatchObject({ channels: 0, watchers: 0 });
  });

  it("reads one snapshot for watchers that arrive together, and each still gets every version", async () => {
    let reads = 0;
    const counting: OperationStore = {
      ...store,
      get: (project, name) => {
        reads++;
        return store.get(project, name);
      },
    };
    const bus = newBus({ store: counting });
    const { op } = await createOp();
    const runs = Array.from({ length: 20 }, () =>
      collect(bus.watch("my-project", op.name, new AbortController().signal)),
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(reads).toBe(1);
    await store.update(next(op, { status: Operation_Status.RUNNING, progress: 50 }));
    await store.update(next(op, { status: Operation_Status.DONE, progress: 100 }));
    for (const seen of await Promise.all(runs))
      expect(seen.map((o) => o.version)).toEqual([1, 2, 3]);
  });

  it("hands a burst over in several turns and still brings every watcher to DONE, in order", async () => {
    const bus = newBus({ deliveriesPerTurn: 1 });
    const ops = await Promise.all(Array.from({ length: 5 }, () => createOp()));
    const runs = ops.flatMap(({ op }) =>
      Array.from({ length: 3 }, () =>
        collect(bus.watch("my-project", op.name, new AbortController().signal)),
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    // Every update of every operation, written back to back: one socket read carries many.
    await Promise.all(
      ops.flatMap(({ op }) => [
        ...[10, 20, 30, 40].map((progress) =>
          store.update(next(op, { status: Operation_Status.RUNNING, progress })),
        ),
        store.update(next(op, { status: Operation_Status.DONE, progress: 100 })),
      ]),
    );
    for (const seen of await Promise.all(runs)) {
      const versions = seen.map((o) => o.version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      expect(new Set(versions).size).toBe(versions.length);
      expect(seen.at(-1)?.status).toBe(Operation_Status.DONE);
    }
  });

  it("drops a message that does not parse, tells onError, and goes on delivering", async () => {
    const errors: unknown[] = [];
    const bus = newBus({ onError: (e) => errors.push(e) });
    const { op } = await createOp();
    const run = collect(bus.watch("my-project", op.name, new AbortController().signal));
    await new Promise((r) => setTimeout(r, 100));
    await redis.client.publish(
      `${redis.prefix.slice(0, -1)}:{my-project}:op:${op.name}`,
      "1 {not json",
    );
    await store.update(next(op, { status: Operation_Status.DONE, progress: 100 }));
    expect((await run).map((o) => o.version)).toEqual([1, 2]);
    expect(errors).toHaveLength(1);
  });

  it("reads what a newer release wrote: records and updates with fields it does not know", async () => {
    const errors: unknown[] = [];
    const bus = newBus({ onError: (e) => errors.push(e) });
    const { op } = await createOp();
    // A newer release added a field (and an enum value) to Operation, and wrote the record.
    const key = operationKeys(redis.prefix.slice(0, -1), "my-project", op.name).record;
    const stored = JSON.parse(
      (await redis.client.hget(key, RECORD_FIELDS.operation)) ?? "{}",
    ) as Record<string, unknown>;
    await redis.client.hset(
      key,
      RECORD_FIELDS.operation,
      JSON.stringify({ ...stored, fieldFromTheFuture: { a: 1 } }),
    );
    expect((await store.get("my-project", op.name))?.name).toBe(op.name);

    const run = collect(bus.watch("my-project", op.name, new AbortController().signal));
    await new Promise((r) => setTimeout(r, 100));
    await redis.client.publish(
      `${redis.prefix.slice(0, -1)}:{my-project}:op:${op.name}`,
      `${Date.now()} ${JSON.stringify({ ...stored, version: 2, status: "DONE", progress: 100, fieldFromTheFuture: [1] })}`,
    );
    expect((await run).map((o) => [o.version, Operation_Status[o.status]])).toEqual([
      [1, "PENDING"],
      [2, "DONE"],
    ]);
    expect(errors).toEqual([]);
  });

  it("serves many watchers over one subscription and releases it when they leave", async () => {
    const bus = newBus();
    const { op } = await createOp();
    const controllers = Array.from({ length: 50 }, () => new AbortController());
    const runs = controllers.map((c) =>
      collect(bus.watch("my-project", op.name, c.signal)).catch((e: unknown) => e),
    );
    /** How many Redis subscriptions the operation's channel has. */
    const subscriptions = async () => {
      const channel = `${redis.prefix.slice(0, -1)}:{my-project}:op:${op.name}`;
      const [, count] = (await redis.client.call("PUBSUB", "NUMSUB", channel)) as [string, number];
      return count;
    };
    await new Promise((r) => setTimeout(r, 100));
    expect(bus.stats()).toMatchObject({ channels: 1, watchers: 50 });
    expect(await subscriptions()).toBe(1);
    for (const c of controllers) c.abort(new Error("client left"));
    await Promise.all(runs);
    await new Promise((r) => setTimeout(r, 50));
    expect(bus.stats()).toMatchObject({ channels: 0, watchers: 0 });
    expect(await subscriptions()).toBe(0);
  });

  describe("across a Redis restart", () => {
    let server: RedisServer;
    afterEach(async () => {
      await server.close();
    });

    it("re-reads the snapshot after the subscriber reconnects, so an update published while it was away still arrives", async () => {
      server = await startRedisServer({ appendonly: true });
      const { command, subscriber } = reconnecting(server.url);
      // The test stops Redis on purpose; connection errors are expected and need a listener.
      for (const client of [command, subscriber]) client.on("error", () => undefined);
      const privateStore = storeWith({ redis: command, prefix: "r" });
      const bus = createOperationBus({
        subscriber: subscriberOf(subscriber, "classic"),
        store: privateStore,
        prefix: "r",
      });
      const { op, seen, done } = await createAndWatch(privateStore, bus);

      // Kill the subscriber's connection, write while it is down, then let it come back.
      subscriber.disconnect(true);
      await privateStore.update(next(op, { status: Operation_Status.RUNNING, progress: 40 }));
      await server.restart();
      await new Promise((r) => setTimeout(r, 300));
      await privateStore.update(next(op, { status: Operation_Status.DONE, progress: 100 }));
      await done;
      expect(seen.map((o) => o.version)).toEqual([1, 2, 3]);
    });
  });

  it("retries the re-read after a reconnect until it succeeds, so a DONE published meanwhile still arrives", async () => {
    const { command, subscriber } = reconnecting(redis.url);
    const realStore = storeWith({ redis: command });
    // The re-reads after the reconnect fail three times (a Redis timeout, say), then succeed.
    let failures = 0;
    let failNext = 0;
    const flakyStore = {
      ...realStore,
      get: (project: string, name: string) => {
        if (failNext > 0) {
          failNext -= 1;
          failures += 1;
          return Promise.reject(new Error("Command timed out"));
        }
        return realStore.get(project, name);
      },
    };
    const errors: unknown[] = [];
    const bus = createOperationBus({
      subscriber: subscriberOf(subscriber, "classic"),
      store: flakyStore,
      prefix: redis.prefix.slice(0, -1),
      onError: (e) => errors.push(e),
      // No periodic re-read: only the retry after the reconnect can deliver the DONE.
      resyncIntervalMs: 0,
    });
    closers.push(() => {
      bus.close();
    });
    const { op, seen, done } = await createAndWatch(realStore, bus);
    failNext = 3;
    const ended = once(subscriber, "end");
    subscriber.disconnect();
    await ended;
    // Published while the subscriber is away: only a re-read can deliver it.
    await realStore.update(next(op, { status: Operation_Status.DONE, progress: 100 }));
    await subscriber.connect();
    await done;
    expect(seen.map((o) => o.status)).toEqual([Operation_Status.PENDING, Operation_Status.DONE]);
    expect(failures).toBe(3);
    expect(errors).toHaveLength(3);
    expect(bus.stats().resyncs).toBeGreaterThanOrEqual(1);
  });

  it("re-reads every watched snapshot now and then, so an update lost without any sign still arrives", async () => {
    const bus = newBus({ resyncIntervalMs: 100 });
    // This writer publishes with SPUBLISH, which a classic subscriber never hears: the message is
    // lost in transit, with no reconnect or failover to hint at it.
    const silent = storeWith({ pubsub: "sharded" });
    const { op } = await createOp();
    const { seen, done } = watchAll(bus, op);
    await new Promise((r) => setTimeout(r, 50));
    await silent.update(next(op, { status: Operation_Status.DONE, progress: 100 }));
    await done;
    expect(seen.map((o) => o.status)).toEqual([Operation_Status.PENDING, Operation_Status.DONE]);
  });

  it("ends a watch with OperationNotFoundError when the operation's record expires under it", async () => {
    const short = storeWith({ retentionMs: 300 });
    const bus = newBus({ store: short, resyncIntervalMs: 100 });
    const { op } = await createOp();
    // The shared store created it with a 7-day retention; this record expires in 300 ms.
    await redis.client.pexpire(
      operationKeys(redis.prefix.slice(0, -1), "my-project", op.name).record,
      300,
    );
    const { seen, done: ended } = watchAll(bus, op);
    await expect(ended).rejects.toBeInstanceOf(OperationNotFoundError);
    expect(seen.map((o) => o.status)).toEqual([Operation_Status.PENDING]);
  });
});
