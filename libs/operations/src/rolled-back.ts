import { guardRedisCalls, type RedisClient } from "@imagesvc/redis";
import { rolledBackKey } from "./keys";

/**
 * The images of each family that a rollback retired, so that the next rollback does not go back
 * to them by default (rolling back twice goes further back). Compute's own fields cannot tell a
 * rollback's retirement from a promotion's. An image made ACTIVE again leaves the set.
 */
export interface RolledBack {
  of(project: string, family: string): Promise<Set<string>>;
  add(project: string, family: string, image: string): Promise<void>;
  remove(project: string, family: string, image: string): Promise<void>;
}

export function createRolledBack(redis: RedisClient, prefix: string): RolledBack {
  return guardRedisCalls({
    async of(project: string, family: string) {
      return new Set(await redis.smembers(rolledBackKey(prefix, project, family)));
    },
    async add(project: string, family: string, image: string) {
      await redis.sadd(rolledBackKey(prefix, project, family), image);
    },
    async remove(project: string, family: string, image: string) {
      await redis.srem(rolledBackKey(prefix, project, family), image);
    },
  });
}
