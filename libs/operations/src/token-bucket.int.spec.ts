// CreateImage's token bucket, taken ahead for a busy principal: the shared limit is never
// exceeded, a quiet principal still pays one token per call, and a busy one pays far fewer round
// trips. A private redis-server, so its command counts are this test's alone.
import { startRedisServer, type RedisServer } from "@imagesvc/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { rateLimitKey } from "./keys";
import { createTokenBucket, LEASE_MS } from "./token-bucket";

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis.disconnect();
  await server.close();
});
beforeEach(async () => {
  await redis.flushall();
  await redis.config("RESETSTAT");
});

/** A replica's bucket: a burst of `burst` and (nearly) no refill during the test. */
const replica = (burst: number) => createTokenBucket({ redis, prefix: "t", perMinute: 1, burst });
const tokensLeft = async (principal: string) =>
  Number(await redis.hget(rateLimitKey("t", principal), "tokens"));
/** Waits until the window after the next has begun: the calls before it are no longer demand. */
const pastTwoWindows = () => new Promise((r) => setTimeout(r, 2 * LEASE_MS + 10));
/** How many times the bucket's script ran. */
const scriptRuns = async () =>
  Number(/cmdstat_evalsha:calls=(\d+)/.exec(await redis.info("commandstats"))?.[1] ?? 0) +
  Number(/cmdstat_eval:calls=(\d+)/.exec(await redis.info("commandstats"))?.[1] ?? 0);

describe("token bucket", () => {
  it("takes one token per call from a principal calling less than once per window", async () => {
    const bucket = replica(100);
    for (let i = 1; i <= 4; i++) {
      expect(await bucket.take("quiet")).toBe(0);
      expect(await tokensLeft("quiet")).toBeCloseTo(100 - i, 0);
      await pastTwoWindows();
    }
    expect(await scriptRuns()).toBe(4);
  });

  it("never grants more than the shared bucket holds, across two replicas taking ahead", async () => {
    const replicas = [replica(200), replica(200)];
    const outcomes = await Promise.all(
      Array.from({ length: 600 }, (_, i) =>
        (replicas[i % 2] as ReturnType<typeof replica>).take("busy"),
      ),
    );
    const granted = outcomes.filter((wait) => wait === 0).length;
    expect(granted).toBeLessThanOrEqual(200);
    // Tokens taken ahead and left unused are dropped, at most a lease (200 ÷ 8) per replica.
    expect(granted).toBeGreaterThanOrEqual(200 - 2 * 25);
    for (const wait of outcomes.filter((w) => w !== 0)) expect(wait).toBeGreaterThan(0);
    // Far fewer round trips than calls.
    expect(await scriptRuns()).toBeLessThan(600 / 4);
  });

  it("takes exactly one token per call when the burst is under 16, however busy", async () => {
    const replicas = [replica(10), replica(10)];
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (replicas[i % 2] as ReturnType<typeof replica>).take("small"),
      ),
    );
    expect(outcomes.filter((wait) => wait === 0)).toHaveLength(10);
    expect(await tokensLeft("small")).toBeLessThan(1);
  });

  it("gives back the tokens it took ahead and did not use, with its next call", async () => {
    const bucket = replica(800);
    // A busy window: the calls take ahead, and some tokens are left when it ends.
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => bucket.take("bursty")));
    expect(outcomes.every((wait) => wait === 0)).toBe(true);
    const runs = await scriptRuns();
    expect(await tokensLeft("bursty")).toBeLessThanOrEqual(800 - 50);
    // Two windows later the lease has lapsed, and the principal is quiet: one call takes one
    // token and returns the rest, so the bucket holds all but the 51 used.
    await pastTwoWindows();
    expect(await bucket.take("bursty")).toBe(0);
    expect(await scriptRuns()).toBe(runs + 1);
    expect(await tokensLeft("bursty")).toBeCloseTo(800 - 51, 0);
  });
});
