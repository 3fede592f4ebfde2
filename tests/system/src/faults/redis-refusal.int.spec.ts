// Redis refusing writes, against the built gateway and worker: a burst of CreateImage that fills
// a Redis under `maxmemory` with `noeviction` gets UNAVAILABLE naming memory for what Redis
// refused (never INTERNAL), and every refused request id succeeds once Redis has room again,
// with exactly one image each.
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ImageService, Operation_Status, type Operation } from "@imagesvc/proto";
import { startRedisServer, type RedisServer } from "@imagesvc/testing";
import { Redis } from "ioredis";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../e2e/stack.test-helper";
import { until } from "./truth.test-helper";

const BURST = 200;
let server: RedisServer | undefined;
let stack: Stack | undefined;

afterEach(async () => {
  await stack?.close();
  await server?.close();
});

const request = (i: number, requestId: string) => ({
  project: "my-project",
  requestId,
  image: {
    name: `full-${i}`,
    // About 2 KB per request, stored in the record and in the job: the burst fills 300 KB fast.
    description: "x".repeat(2000),
    sourceImage: "projects/debian-cloud/global/images/family/debian-12",
  },
});

/**
 * A private Redis (with `serverArgs`), the stack on it, and a built gateway on it; `story` gets
 * a client of that gateway and an admin connection to Redis, after one warm-up CreateImage
 * (scripts loaded, queue keys made).
 */
async function onPrivateRedis(
  story: (
    client: Client<typeof ImageService>,
    admin: Redis,
    on: { readonly stack: Stack; readonly redisUrl: string },
  ) => Promise<void>,
  serverArgs: readonly string[] = [],
) {
  const redis = await startRedisServer({ args: serverArgs });
  server = redis;
  const running = await startStack({ gateway: { settings: { REDIS_URL: redis.url } } });
  stack = running;
  const gateway = await running.spawnGateway({
    REDIS_URL: redis.url,
    RATE_LIMIT_CREATE_PER_MINUTE: "1000000",
    RATE_LIMIT_CREATE_BURST: "1000000",
  });
  const client = createClient(
    ImageService,
    createConnectTransport({ baseUrl: gateway.url, httpVersion: "2" }),
  );
  const admin = new Redis(redis.url);
  try {
    await client.createImage(request(-1, randomUUID()));
    await story(client, admin, { stack: running, redisUrl: redis.url });
  } finally {
    admin.disconnect();
    await gateway.app.stop();
  }
}

describe("Redis refusing writes", () => {
  it("answers a burst that fills Redis with UNAVAILABLE naming memory, and every refused request id succeeds later with one image", async () => {
    await onPrivateRedis(async (client, admin, { stack, redisUrl }) => {
      // Leave Redis 300 KB of room.
      const used = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1]);
      await admin.config("SET", "maxmemory-policy", "noeviction");
      await admin.config("SET", "maxmemory", String(used + 300_000));

      const ids = Array.from({ length: BURST }, () => randomUUID());
      const answers = await Promise.all(
        ids.map((id, i) =>
          client.createImage(request(i, id)).then(
            (op) => ({ op }),
            (e: unknown) => ({ error: ConnectError.from(e) }),
          ),
        ),
      );
      const refused = answers.flatMap((a, i) => ("error" in a ? [i] : []));
      expect(refused.length).toBeGreaterThan(0);
      for (const a of answers) {
        if (!("error" in a)) continue;
        expect(a.error.code, a.error.rawMessage).toBe(Code.Unavailable);
        expect(a.error.rawMessage).toMatch(
          /^the service's storage is out of memory \(Redis refused the write: maxmemory reached under noeviction\); retry shortly with the same request_id$/,
        );
      }

      // Room again: each refused request, repeated as it was, succeeds.
      await admin.config("SET", "maxmemory", "0");
      const retried = await Promise.all(
        refused.map((i) => client.createImage(request(i, ids[i] ?? ""))),
      );
      const operations = new Map<string, Operation>();
      for (const [i, a] of answers.entries()) {
        const op = "op" in a ? a.op : retried[refused.indexOf(i)];
        if (op !== undefined) operations.set(ids[i] ?? "", op);
      }
      expect(operations.size).toBe(BURST);

      await stack.startWorker({ REDIS_URL: redisUrl });
      await until(
        async () => {
          const statuses = await Promise.all(
            [...operations.values()].map(async (op) => {
              const now = await client.getOperation({ project: "my-project", operation: op.name });
              return now.status;
            }),
          );
          return statuses.every((s) => s === Operation_Status.DONE);
        },
        "every operation DONE",
        60_000,
      );
      const images = stack.emulator.admin
        .state()
        .images.filter((i) => i.name.startsWith("full-") && i.name !== "full--1");
      expect(images).toHaveLength(BURST);
      const labels = images.map(
        (i) => (i["labels"] as Record<string, string>)["imagesvc-request-id"],
      );
      expect(new Set(labels)).toEqual(new Set(ids));
      for (const op of operations.values()) {
        const done = await client.getOperation({ project: "my-project", operation: op.name });
        expect(done.error, JSON.stringify(done.error)).toBeUndefined();
      }
    });
  });

  /**
   * One CreateImage while Redis refuses writes for `cause`, then again with the same request id
   * once `heal` has Redis accepting writes: UNAVAILABLE naming the cause, then one operation.
   */
  async function refusedThenHealed(
    refuse: (admin: Redis) => Promise<void>,
    heal: (admin: Redis) => Promise<void>,
    message: RegExp,
    serverArgs: readonly string[] = [],
  ) {
    await onPrivateRedis(async (client, admin) => {
      await refuse(admin);
      const id = randomUUID();
      const error = await client.createImage(request(0, id)).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(error?.code, error?.rawMessage).toBe(Code.Unavailable);
      expect(error?.rawMessage).toMatch(message);
      await heal(admin);
      const op = await client.createImage(request(0, id));
      const again = await client.createImage(request(0, id));
      expect(again.name).toBe(op.name);
      expect(op.clientOperationId).toBe(id);
    }, serverArgs);
  }

  it("answers UNAVAILABLE naming a replica (READONLY) and succeeds with the same request id once it is a primary again", async () => {
    const primary = await startRedisServer();
    try {
      await refusedThenHealed(
        async (admin) => {
          await admin.call("REPLICAOF", "127.0.0.1", String(primary.port));
          await until(
            async () => /master_link_status:up/.test(await admin.info("replication")),
            "the replica in sync",
          );
        },
        async (admin) => {
          await admin.call("REPLICAOF", "NO", "ONE");
        },
        /^the service's storage is read-only \(Redis answered as a replica: a failover may be in progress\); retry shortly with the same request_id$/,
      );
    } finally {
      await primary.close();
    }
  });

  it("answers UNAVAILABLE naming MISCONF when Redis cannot save, and succeeds with the same request id once it can", async () => {
    const gone = mkdtempSync(join(tmpdir(), "redis-misconf-"));
    const next = mkdtempSync(join(tmpdir(), "redis-misconf-"));
    try {
      await refusedThenHealed(
        async (admin) => {
          // A save point, a directory that is then deleted, and a failed background save.
          await admin.config("SET", "save", "3600 1");
          await admin.config("SET", "stop-writes-on-bgsave-error", "yes");
          await admin.config("SET", "dir", gone);
          rmSync(gone, { recursive: true, force: true });
          await admin.bgsave();
          await until(
            async () => /rdb_last_bgsave_status:err/.test(await admin.info("persistence")),
            "the failed save",
          );
        },
        async (admin) => {
          await admin.config("SET", "dir", next);
          await admin.bgsave();
          await until(
            async () => /rdb_last_bgsave_status:ok/.test(await admin.info("persistence")),
            "a save that works",
          );
          // No save points again: a Redis that has them saves on SIGTERM, and the test stops it.
          await admin.config("SET", "save", "");
        },
        /^the service's storage refuses writes \(Redis cannot save to disk: MISCONF\); retry shortly with the same request_id$/,
        // `dir` is a protected setting since Redis 7.
        ["--enable-protected-configs", "yes"],
      );
    } finally {
      rmSync(next, { recursive: true, force: true });
    }
  });
});
