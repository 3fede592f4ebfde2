import { guardRedisCalls, type RedisClient } from "@imagesvc/redis";
import { randomUUID } from "node:crypto";
import { sweeperLockKey } from "./keys";
import { tokenLockScripts } from "./token-lock";

/** The lock one worker of a deployment holds while it sweeps. */
export interface SweeperLock {
  /** Takes the lock for `ttlMs`: this holder's token, or undefined when another worker has it. */
  acquire(ttlMs: number): Promise<string | undefined>;
  /** Extends the lock if `token` still holds it. */
  extend(token: string, ttlMs: number): Promise<void>;
  /** Releases the lock if `token` still holds it; never another holder's. */
  release(token: string): Promise<void>;
}

/**
 * Lets one worker of the deployment sweep at a time: a lock in Redis (`P:sweeper-lock`) with a
 * holder's token, extended and released only by its holder (extend-lock.lua, release-lock.lua),
 * and lost by expiry if the holder dies.
 */
export function createSweeperLock(redis: RedisClient, prefix: string): SweeperLock {
  const locks = tokenLockScripts(redis);
  const lockKey = sweeperLockKey(prefix);
  return guardRedisCalls({
    async acquire(ttlMs: number) {
      const token = randomUUID();
      return (await redis.set(lockKey, token, "PX", ttlMs, "NX")) === "OK" ? token : undefined;
    },
    async extend(token: string, ttlMs: number) {
      await locks.extend(lockKey, token, ttlMs);
    },
    async release(token: string) {
      await locks.release(lockKey, token);
    },
  });
}
