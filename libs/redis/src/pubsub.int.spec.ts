import { startRedisCluster, useTestRedis, type RedisCluster } from "@imagesvc/testing";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisClient } from "./client";
import { agreePubSubMode, pubSubModeKey } from "./pubsub";
import { parseRedisUrl } from "./redis-url";

describe("agreePubSubMode on one Redis", () => {
  it("is classic, and refuses sharded with the variable and the fix", async () => {
    const redis = await useTestRedis();
    try {
      const key = pubSubModeKey(redis.prefix.slice(0, -1));
      expect(await agreePubSubMode(redis.client, "auto", key)).toBe("classic");
      expect(await agreePubSubMode(redis.client, "classic", key)).toBe("classic");
      await expect(agreePubSubMode(redis.client, "sharded", key)).rejects.toThrow(
        /REDIS_PUBSUB: is "sharded", which needs a Redis Cluster/,
      );
    } finally {
      await redis.cleanup();
    }
  });
});

describe("agreePubSubMode on a cluster", () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
  });
  afterAll(async () => {
    await cluster.close();
  });

  it("records the first process's decision, and every later process uses it", async () => {
    const clients = [0, 1, 2].map(() =>
      createRedisClient(parseRedisUrl(cluster.url), { maxRetriesPerRequest: 1 }),
    );
    try {
      const key = pubSubModeKey(`t:${randomBytes(4).toString("hex")}`);
      // Every master runs Redis 7+, so auto finds sharded, and records it.
      const [first, second] = clients;
      if (first === undefined || second === undefined) throw new Error("setup");
      expect(await agreePubSubMode(first, "auto", key)).toBe("sharded");
      expect(await first.get(key)).toBe("sharded");
      // A process configured otherwise is stopped rather than left deaf to the others.
      await expect(agreePubSubMode(second, "classic", key)).rejects.toThrow(
        /REDIS_PUBSUB: is "classic", but this deployment's processes use "sharded"/,
      );
      // A deployment that recorded classic (say, before its Redis upgrade) stays classic on auto.
      await first.set(key, "classic");
      expect(await agreePubSubMode(second, "auto", key)).toBe("classic");
      await first.del(key);
    } finally {
      for (const c of clients) c.disconnect();
    }
  });
});
