import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "@imagesvc/proto";
import type { RedisClient } from "@imagesvc/redis";

/**
 * A token bucket per principal, in Redis so every gateway replica draws from the same one. Uses
 * Redis' clock, so replicas need not agree on time.
 * KEYS: the bucket. ARGV: capacity, refill per ms, ttl ms.
 * Returns 0 when a token was taken, else the ms until one is available.
 */
const TAKE = `
local cap, rate, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], ttl)
return wait
`;

export interface RateLimit {
  /** Sustained CreateImage calls per minute per principal. */
  readonly perMinute: number;
  /** How many may come at once before the rate applies. */
  readonly burst: number;
}

/** CreateImage's per-principal rate limit: throws RESOURCE_EXHAUSTED with RetryInfo when over it. */
export function createRateLimiter(redis: RedisClient, prefix: string, limit: RateLimit) {
  redis.defineCommand("imagesvcTakeToken", { numberOfKeys: 1, lua: TAKE });
  const take = (
    redis as unknown as { imagesvcTakeToken(key: string, ...args: number[]): Promise<number> }
  ).imagesvcTakeToken.bind(redis);
  const perMs = limit.perMinute / 60_000;
  const ttl = Math.ceil(limit.burst / perMs) + 1000;
  return async (principal: string): Promise<void> => {
    const waitMs = await take(`${prefix}:{ratelimit:${principal}}`, limit.burst, perMs, ttl);
    if (waitMs <= 0) return;
    throw new ConnectError(
      `rate limit: ${principal} may create ${limit.perMinute} images a minute (bursts of ${limit.burst}); retry in ${Math.ceil(waitMs / 1000)} s`,
      Code.ResourceExhausted,
      undefined,
      [
        {
          desc: RetryInfoSchema,
          value: {
            retryDelay: {
              seconds: BigInt(Math.floor(waitMs / 1000)),
              nanos: (waitMs % 1000) * 1e6,
            },
          },
        },
      ],
    );
  };
}

/**
 * Open streams per principal, in this process: one caller cannot hold a gateway's memory and
 * connections. (Per replica: a caller spread over N gateways may hold N × the cap.)
 */
export class StreamLimiter {
  private readonly open = new Map<string, number>();

  constructor(private readonly max: number) {}

  acquire(principal: string): () => void {
    const count = this.open.get(principal) ?? 0;
    if (count >= this.max) {
      throw new ConnectError(
        `${principal} already has ${count} open streams on this gateway; the limit is ${this.max}`,
        Code.ResourceExhausted,
      );
    }
    this.open.set(principal, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = (this.open.get(principal) ?? 1) - 1;
      if (now === 0) this.open.delete(principal);
      else this.open.set(principal, now);
    };
  }
}
