import { guardRedisCalls, type RedisClient } from "@imagesvc/redis";
import { familyClaimKey } from "./keys";
import {
  extendLockArgs,
  extendLockKeys,
  extendLockScript,
  releaseLockArgs,
  releaseLockKeys,
  releaseLockScript,
} from "./lua/scripts.generated";

/** Who may change an image family now: one release operation at a time (libs/lifecycle). */
export interface FamilyClaims {
  /**
   * Claims `family` of `project` for `operation` for `ttlMs`, or extends its claim: a re-run of
   * the same operation (after a crash) holds it again. Refused while another operation holds it.
   */
  claim(
    project: string,
    family: string,
    operation: string,
    ttlMs: number,
  ): Promise<{ readonly claimed: true } | { readonly claimed: false; readonly holder: string }>;
  /** Gives the claim up, if `operation` still holds it; never another's. */
  release(project: string, family: string, operation: string): Promise<void>;
}

/**
 * Family claims in Redis: `P:{project}:family:NAME`, a string holding the operation's name, set
 * with NX and an expiry, extended and released only by its holder (the sweeper lock's scripts,
 * extend-lock.lua and release-lock.lua), and lost by expiry if every worker running it dies.
 */
export function createFamilyClaims(redis: RedisClient, prefix: string): FamilyClaims {
  redis.defineCommand("imagesvcExtendLock", {
    numberOfKeys: extendLockScript.numberOfKeys,
    lua: extendLockScript.lua,
  });
  redis.defineCommand("imagesvcReleaseLock", {
    numberOfKeys: releaseLockScript.numberOfKeys,
    lua: releaseLockScript.lua,
  });
  const run = redis as unknown as {
    imagesvcExtendLock(...args: (string | number)[]): Promise<number>;
    imagesvcReleaseLock(...args: (string | number)[]): Promise<number>;
  };
  return guardRedisCalls({
    async claim(project: string, family: string, operation: string, ttlMs: number) {
      const lockKey = familyClaimKey(prefix, project, family);
      for (;;) {
        if ((await redis.set(lockKey, operation, "PX", ttlMs, "NX")) === "OK")
          return { claimed: true as const };
        const extended = await run.imagesvcExtendLock(
          ...extendLockKeys({ lockKey }),
          ...extendLockArgs({ token: operation, ttlMs }),
        );
        if (extended === 1) return { claimed: true as const };
        const holder = await redis.get(lockKey);
        if (holder !== null && holder !== operation) return { claimed: false as const, holder };
        // It expired between the calls: take it again.
      }
    },
    async release(project: string, family: string, operation: string) {
      await run.imagesvcReleaseLock(
        ...releaseLockKeys({ lockKey: familyClaimKey(prefix, project, family) }),
        ...releaseLockArgs({ token: operation }),
      );
    },
  });
}
