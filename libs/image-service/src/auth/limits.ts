import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "@imagesvc/proto";
import { createTokenBucket } from "@imagesvc/operations";
import type { RedisClient } from "@imagesvc/redis";

export interface RateLimit {
  /** Sustained CreateImage calls per minute per principal. */
  readonly perMinute: number;
  /** How many may come at once before the rate applies. */
  readonly burst: number;
}

/** CreateImage's per-principal rate limit: throws RESOURCE_EXHAUSTED with RetryInfo when over it. */
export function createRateLimiter(redis: RedisClient, prefix: string, limit: RateLimit) {
  const bucket = createTokenBucket({ redis, prefix, ...limit });
  return async (principal: string): Promise<void> => {
    const waitMs = await bucket.take(principal);
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
