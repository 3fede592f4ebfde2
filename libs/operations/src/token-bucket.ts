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

/** How long tokens taken ahead stay usable; unused ones go back with the principal's next call. */
export const LEASE_MS = 250;
/** The most tokens taken ahead at once, whatever the burst. */
const MAX_LEASE = 64;

/** One principal's tokens taken ahead in this process, and its recent demand. */
interface Lease {
  tokens: number;
  usableUntil: number;
  /** The Redis call in flight, resolving to its wait (0 when it granted tokens). */
  pending: Promise<number> | undefined;
  waiting: number;
  /** Takes in the current and the previous window of LEASE_MS. */
  takes: number;
  previousTakes: number;
  windowStart: number;
}

/**
 * A token bucket per principal, in Redis (take-token.lua), so every gateway replica draws from
 * the same one; it runs on Redis's clock, so replicas need not agree on time.
 *
 * A busy principal's tokens are taken ahead: one call takes as many as this process used in the
 * last LEASE_MS (or has callers waiting), up to an eighth of the burst and at most 64, and they
 * serve the next calls without a round trip for LEASE_MS. A token is always taken from the shared
 * bucket before it is used, so the limit is never exceeded; those left unused when the lease
 * lapses go back to the bucket with this process's next call for the principal, so a replica holds
 * at most that many out of the bucket, and only while the principal keeps calling it. A principal
 * calling less than once per window takes one token per call, as without leases; so does every
 * principal when the burst is under 16.
 */
export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  const { redis, prefix, burst } = options;
  const take = takeTokenCommand(redis);
  const refillPerMs = options.perMinute / 60_000;
  // An untouched bucket lives until it would be full again, and a second more.
  const ttlMs = Math.ceil(burst / refillPerMs) + 1000;
  const maxLease = Math.max(1, Math.min(MAX_LEASE, Math.floor(burst / 8)));
  const leases = new Map<string, Lease>();
  const fromRedis = guardRedisCalls({
    take: (principal: string, want: number, giveBack: number) =>
      take(rateLimitKey(prefix, principal), {
        capacity: burst,
        refillPerMs,
        ttlMs,
        want,
        giveBack,
      }),
  });

  const leaseOf = (principal: string, at: number): Lease => {
    let lease = leases.get(principal);
    if (lease === undefined) {
      // Bounded: dropping them all costs at most their unused tokens, which then go unreturned.
      if (leases.size >= 10_000) leases.clear();
      lease = {
        tokens: 0,
        usableUntil: 0,
        pending: undefined,
        waiting: 0,
        takes: 0,
        previousTakes: 0,
        windowStart: at,
      };
      leases.set(principal, lease);
    }
    if (at - lease.windowStart >= LEASE_MS) {
      lease.previousTakes = at - lease.windowStart < 2 * LEASE_MS ? lease.takes : 0;
      lease.takes = 0;
      lease.windowStart = at;
    }
    return lease;
  };

  const refill = (principal: string, lease: Lease): Promise<number> => {
    const want = Math.min(maxLease, Math.max(1, lease.waiting, lease.previousTakes, lease.takes));
    // What the last lease left unused (it lapsed) goes back to the bucket in the same call.
    const giveBack = lease.tokens;
    lease.tokens = 0;
    return fromRedis.take(principal, want, giveBack).then(([granted, waitMs]) => {
      lease.tokens = granted;
      lease.usableUntil = Date.now() + LEASE_MS;
      return waitMs;
    });
  };

  return {
    async take(principal) {
      const lease = leaseOf(principal, Date.now());
      lease.takes += 1;
      lease.waiting += 1;
      try {
        for (;;) {
          if (lease.tokens > 0 && Date.now() < lease.usableUntil) {
            lease.tokens -= 1;
            return 0;
          }
          // One call in flight per principal: the callers that arrive meanwhile share its tokens,
          // or its refusal.
          lease.pending ??= refill(principal, lease).finally(() => {
            lease.pending = undefined;
          });
          const waitMs = await lease.pending;
          if (waitMs > 0) return waitMs;
        }
      } finally {
        lease.waiting -= 1;
      }
    },
  };
}

/**
 * take-token.lua on `redis`: takes up to `want` tokens of the bucket at `key`; answers how many
 * it took, and when none, the ms until one is available.
 */
export function takeTokenCommand(redis: RedisClient) {
  redis.defineCommand("imagesvcTakeToken", {
    numberOfKeys: takeTokenScript.numberOfKeys,
    lua: takeTokenScript.lua,
  });
  const run = redis as unknown as {
    imagesvcTakeToken(...args: (string | number)[]): Promise<[number, number]>;
  };
  return (
    key: string,
    bucket: {
      capacity: number;
      refillPerMs: number;
      ttlMs: number;
      want: number;
      giveBack: number;
    },
  ) => run.imagesvcTakeToken(...takeTokenKeys({ bucketKey: key }), ...takeTokenArgs(bucket));
}
