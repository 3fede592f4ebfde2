import { startRedisServer, useTestRedis } from "@imagesvc/testing";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { guardRedisCalls, isTransportFailure, RedisUnavailableError } from "./errors";

/** What a call rejects with. */
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe("Redis outages, told by class", () => {
  it("takes every way ioredis fails to reach Redis for an outage, and none of Redis's replies", async () => {
    const server = await startRedisServer();
    const redis = await useTestRedis();
    const down = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    down.on("error", () => undefined);
    const slow = new Redis(redis.url, { commandTimeout: 50 });
    try {
      await server.kill();
      const outages = [
        // Reconnecting ran out of retries: MaxRetriesPerRequestError.
        await failure(down.get("k")),
        // A command Redis does not answer in time (a blocking pop outlasts the timeout).
        await failure(slow.blpop("imagesvc-test-never", 1)),
      ];
      for (const e of outages) expect(isTransportFailure(e), String(e)).toBe(true);
      await redis.client.set(`${redis.prefix}string`, "x");
      const reply = await failure(redis.client.hget(`${redis.prefix}string`, "f"));
      expect(String(reply)).toMatch(/^ReplyError: WRONGTYPE/);
      expect(isTransportFailure(reply)).toBe(false);
      expect(isTransportFailure(new RangeError("ours"))).toBe(false);
    } finally {
      slow.disconnect();
      down.disconnect();
      await server.close();
      await redis.cleanup();
    }
  });

  it("raises an outage behind a guarded API as RedisUnavailableError, and passes everything else", async () => {
    const server = await startRedisServer();
    const redis = await useTestRedis();
    const down = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    down.on("error", () => undefined);
    try {
      await server.kill();
      const api = guardRedisCalls({
        read: () => down.get("k"),
        wrongType: async () => {
          await redis.client.set(`${redis.prefix}s`, "x");
          return redis.client.hget(`${redis.prefix}s`, "f");
        },
        ours: () => Promise.reject(new RangeError("a bug of ours")),
        sync: () => 7,
      });
      const outage = await failure(api.read());
      expect(outage).toBeInstanceOf(RedisUnavailableError);
      expect((outage as Error).cause).toBeInstanceOf(Error);
      expect(String(await failure(api.wrongType()))).toMatch(/^ReplyError: WRONGTYPE/);
      expect(await failure(api.ours())).toBeInstanceOf(RangeError);
      expect(api.sync()).toBe(7);
    } finally {
      down.disconnect();
      await server.close();
      await redis.cleanup();
    }
  });
});
