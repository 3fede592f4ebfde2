import type { RedisClient } from "@imagesvc/redis";
import {
  extendLockArgs,
  extendLockKeys,
  extendLockScript,
  releaseLockArgs,
  releaseLockKeys,
  releaseLockScript,
} from "./lua/scripts.generated";

/**
 * A lock held by a token (extend-lock.lua, release-lock.lua): extended and released only by its
 * holder, never another's. The sweeper lock and the family claims are such locks.
 */
export interface TokenLockScripts {
  /** Extends `lockKey` if `token` holds it: true if extended. */
  extend(lockKey: string, token: string, ttlMs: number): Promise<boolean>;
  /** Releases `lockKey` if `token` holds it. */
  release(lockKey: string, token: string): Promise<void>;
}

export function tokenLockScripts(redis: RedisClient): TokenLockScripts {
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
  return {
    async extend(lockKey, token, ttlMs) {
      return (
        (await run.imagesvcExtendLock(
          ...extendLockKeys({ lockKey }),
          ...extendLockArgs({ token, ttlMs }),
        )) === 1
      );
    },
    async release(lockKey, token) {
      await run.imagesvcReleaseLock(...releaseLockKeys({ lockKey }), ...releaseLockArgs({ token }));
    },
  };
}
