import { guardRedisCalls, type RedisClient } from "@imagesvc/redis";
import { familyClaimKey } from "./keys";
import { tokenLockScripts } from "./token-lock";

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
  /**
   * Extends `operation`'s claim for `ttlMs` if it still holds it; false when it lapsed (even if
   * nobody took it since): what the holder read under it may be stale.
   */
  hold(project: string, family: string, operation: string, ttlMs: number): Promise<boolean>;
  /** Gives the claim up, if `operation` still holds it; never another's. */
  release(project: string, family: string, operation: string): Promise<void>;
}

/**
 * Family claims in Redis: `P:{project}:family:NAME`, a string holding the operation's name, set
 * with NX and an expiry, extended and released only by its holder (the sweeper lock's scripts,
 * extend-lock.lua and release-lock.lua), and lost by expiry if every worker running it dies.
 */
export function createFamilyClaims(redis: RedisClient, prefix: string): FamilyClaims {
  const locks = tokenLockScripts(redis);
  return guardRedisCalls({
    async claim(project: string, family: string, operation: string, ttlMs: number) {
      const lockKey = familyClaimKey(prefix, project, family);
      for (;;) {
        if ((await redis.set(lockKey, operation, "PX", ttlMs, "NX")) === "OK")
          return { claimed: true as const };
        if (await locks.extend(lockKey, operation, ttlMs)) return { claimed: true as const };
        const holder = await redis.get(lockKey);
        if (holder !== null && holder !== operation) return { claimed: false as const, holder };
        // It expired between the calls: take it again.
      }
    },
    async hold(project: string, family: string, operation: string, ttlMs: number) {
      return locks.extend(familyClaimKey(prefix, project, family), operation, ttlMs);
    },
    async release(project: string, family: string, operation: string) {
      await locks.release(familyClaimKey(prefix, project, family), operation);
    },
  });
}
