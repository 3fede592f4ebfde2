import { guardRedisCalls, type RedisClient } from "@imagesvc/redis";
import { rateLimitKey } from "./keys";
import { takeTokenArgs, takeTokenKeys, takeTokenScript } from "./lua/scripts.generated";

export interface TokenBucketOptions {
  readonly redis: RedisClient;
  /** The deployment's prefix (REDIS_PREFIX). */
  readonly prefix: string;
  /** Sustained takes per minute per principal (RATE_LIMIT_CREATE_PER_MINUTE). */
  readonly perMinute: number;
  /** How many may come at once before the rate applies (RATE_LIMIT_CREATE_BURST). */
  readonly burst: number;
}

export interface TokenBucket {
  /** Takes a token of `principal`'s bucket: 0 when one was taken, else the ms until one is. */
  take(principal: string): Promise<number>;
}

/**
 * A token bucket per principal, in Redis (take-token.lua), so every gateway replica draws from
 * the same one; it runs on Redis's clock, so replicas need not agree on time.
 */
export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  const { redis, prefix, burst } = options;
  const take = takeTokenCommand(redis);
  const refillPerMs = options.perMinute / 60_000;
  // An untouched bucket lives until it would be full again, and a second more.
  const ttlMs = Math.ceil(burst / refillPerMs) + 1000;
  return guardRedisCalls({
    take: (principal: string) =>
      take(rateLimitKey(prefix, principal), { capacity: burst, refillPerMs, ttlMs }),
  });
}

/**
 * take-token.lua on `redis`: takes a token of the bucket at `key`; 0 when one was taken, else
 * the ms until one is.
 */
export function takeTokenCommand(redis: RedisClient) {
  redis.defineCommand("imagesvcTakeToken", {
    numberOfKeys: takeTokenScript.numberOfKeys,
    lua: takeTokenScript.lua,
  });
  const run = redis as unknown as {
    imagesvcTakeToken(...args: (string | number)[]): Promise<number>;
  };
  return (key: string, bucket: { capacity: number; refillPerMs: number; ttlMs: number }) =>
    run.imagesvcTakeToken(...takeTokenKeys({ bucketKey: key }), ...takeTokenArgs(bucket));
}
