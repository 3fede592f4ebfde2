import type { RetentionPolicy } from "@imagesvc/lifecycle";
import { guardRedisCalls, type RedisClient } from "@imagesvc/redis";
import { policiesKey, policyProjectsKey } from "./keys";

/** A family's retention policy as stored: the policy, and the operation that set it. */
export interface StoredFamilyPolicy {
  readonly policy: RetentionPolicy;
  readonly setBy: string;
  readonly setMs: number;
}

export interface FamilyPolicies {
  /** Sets (or, with `undefined`, removes) the family's policy. */
  set(project: string, family: string, policy: StoredFamilyPolicy | undefined): Promise<void>;
  get(project: string, family: string): Promise<StoredFamilyPolicy | undefined>;
  /** Every family with a policy, with it. */
  all(): Promise<{ project: string; family: string; policy: StoredFamilyPolicy }[]>;
}

/** Policies in Redis: a hash per project (`P:{project}:policies`) and a set of those projects. */
export function createFamilyPolicies(redis: RedisClient, prefix: string): FamilyPolicies {
  return guardRedisCalls({
    async set(project: string, family: string, policy: StoredFamilyPolicy | undefined) {
      if (policy === undefined) {
        await redis.hdel(policiesKey(prefix, project), family);
        return;
      }
      await redis.sadd(policyProjectsKey(prefix), project);
      await redis.hset(policiesKey(prefix, project), family, JSON.stringify(policy));
    },
    async get(project: string, family: string) {
      const json = await redis.hget(policiesKey(prefix, project), family);
      return json === null ? undefined : (JSON.parse(json) as StoredFamilyPolicy);
    },
    async all() {
      const out: { project: string; family: string; policy: StoredFamilyPolicy }[] = [];
      for (const project of await redis.smembers(policyProjectsKey(prefix))) {
        const families = await redis.hgetall(policiesKey(prefix, project));
        for (const [family, json] of Object.entries(families))
          out.push({ project, family, policy: JSON.parse(json) as StoredFamilyPolicy });
      }
      return out;
    },
  });
}
