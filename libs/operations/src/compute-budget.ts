import { guardRedisCalls, type RedisClient } from "@imagesvc/redis";
import { sleep } from "@imagesvc/runtime";
import { computeQuotaKey } from "./keys";
import { drainTokensArgs, drainTokensKeys, drainTokensScript } from "./lua/scripts.generated";
import { takeTokenCommand } from "./token-bucket";

export interface ComputeBudgetOptions {
  readonly redis: RedisClient;
  readonly prefix: string;
  /** Compute's mutating-call quota per project per minute (COMPUTE_QUOTA_WRITES_PER_MINUTE); 0: none. */
  readonly writesPerMinute: number;
  /** Compute's read-call quota per project per minute (COMPUTE_QUOTA_READS_PER_MINUTE); 0: none. */
  readonly readsPerMinute: number;
}

/** The Compute methods that are mutating calls; every other one the worker makes is a read. */
const WRITES = new Set(["images.insert", "images.delete", "globalOperations.delete"]);

/**
 * Compute's per-project API rate quotas as one budget that every worker shares: a token bucket
 * per project and kind of call in Redis (take-token.lua, on Redis's clock), refilled at the
 * quota's rate and holding a tenth of a second's calls. Each Compute call waits for its token;
 * when Compute refuses one for its quota anyway (another client spends it too, or the quota is
 * lower than configured), the bucket is emptied (drain-tokens.lua), so every worker waits for the
 * next refill rather than each retrying on its own clock. Watchers never cost a call.
 */
export function createComputeBudget(options: ComputeBudgetOptions) {
  const { redis, prefix } = options;
  const takeToken = takeTokenCommand(redis);
  redis.defineCommand("imagesvcDrainTokens", {
    numberOfKeys: drainTokensScript.numberOfKeys,
    lua: drainTokensScript.lua,
  });
  const run = redis as unknown as {
    imagesvcDrainTokens(...args: (string | number)[]): Promise<number>;
  };
  const bucketOf = (method: string) => {
    const kind = WRITES.has(method) ? ("write" as const) : ("read" as const);
    const perMinute = kind === "write" ? options.writesPerMinute : options.readsPerMinute;
    if (perMinute <= 0) return undefined;
    const refillPerMs = perMinute / 60_000;
    // A tenth of a second's calls at once: Compute's own burst is unknown (its bucket may be
    // partly spent by other clients), so the budget paces from the first call.
    const capacity = Math.max(1, Math.floor(perMinute / 600));
    return { kind, refillPerMs, capacity, ttlMs: Math.ceil(capacity / refillPerMs) + 1000 };
  };
  const redisCalls = guardRedisCalls({
    take: (key: string, capacity: number, refillPerMs: number, ttlMs: number) =>
      takeToken(key, { capacity, refillPerMs, ttlMs, want: 1, giveBack: 0 }).then(
        ([, waitMs]) => waitMs,
      ),
    drain: (key: string, ttlMs: number) =>
      run.imagesvcDrainTokens(
        ...drainTokensKeys({ bucketKey: key }),
        ...drainTokensArgs({ ttlMs }),
      ),
  });
  return {
    async take(method: string, project: string, signal?: AbortSignal): Promise<void> {
      const bucket = bucketOf(method);
      if (bucket === undefined) return;
      const key = computeQuotaKey(prefix, project, bucket.kind);
      for (;;) {
        const waitMs = await redisCalls.take(
          key,
          bucket.capacity,
          bucket.refillPerMs,
          bucket.ttlMs,
        );
        if (waitMs === 0) return;
        await sleep(waitMs, signal);
      }
    },
    async refused(method: string, project: string): Promise<void> {
      const bucket = bucketOf(method);
      if (bucket === undefined) return;
      await redisCalls.drain(computeQuotaKey(prefix, project, bucket.kind), bucket.ttlMs);
    },
  };
}

export type ComputeBudget = ReturnType<typeof createComputeBudget>;
