import { startRedisServer, useTestRedis, type TestRedis } from "@imagesvc/testing";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { guardRedisCalls, isTransportFailure, RedisUnavailableError } from "./errors";

/** What a call rejects with. */
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

/**
 * Runs `story` with `down`, a client (one retry per command) of a Redis that has been killed, and
 * the test's own Redis, which answers; closes them all after.
 */
async function duringOutage(story: (down: Redis, redis: TestRedis) => Promise<void>) {
  const server = await startRedisServer();
  const redis = await useTestRedis();
  const down = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  down.on("error", () => undefined);
  try {
    await server.kill();
    await story(down, redis);
  } finally {
    down.disconnect();
    await server.close();
    await redis.cleanup();
  }
}

describe("Redis outages, told by class", () => {
  it("takes every way ioredis fails to reach Redis for an outage, and none of Redis's replies", () =>
    duringOutage(async (down, redis) => {
      const slow = new Redis(redis.url, { commandTimeout: 50 });
      try {
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
      }
    }));

  it("raises an outage behind a guarded API as RedisUnavailableError, and passes everything else", () =>
    duringOutage(async (down, redis) => {
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
    }));
});
