import type { DeprecationTimes, ScheduledStep } from "@imagesvc/lifecycle";
import { guardRedisCalls, type RedisClient } from "@imagesvc/redis";
import { scheduleDueKey, scheduleKey } from "./keys";

/** An image's schedule: the steps DeprecateImage set, which the reconciler enacts. */
export interface ImageSchedule {
  /** The operation that set it: a step is enacted only while its schedule is still this one. */
  readonly by: string;
  readonly steps: readonly ScheduledStep[];
  /** Written with each step, as the DeprecateImage asked. */
  readonly replacement: string;
  readonly times: DeprecationTimes;
}

/** A step whose time has come, as the due index names it. */
export interface DueStep {
  readonly project: string;
  readonly image: string;
  readonly state: ScheduledStep["state"];
  readonly atMs: number;
  readonly by: string;
  /** Its member in the index, to take it off once its operation exists. */
  readonly member: string;
}

export interface ReleaseSchedules {
  /** Records `schedule` as the image's, replacing any other (whose steps then do nothing). */
  set(project: string, image: string, schedule: ImageSchedule): Promise<void>;
  /** The image has no schedule any more (it was made ACTIVE). */
  clear(project: string, image: string): Promise<void>;
  get(project: string, image: string): Promise<ImageSchedule | undefined>;
  /** Each image's schedule (undefined: none), in one round trip. */
  getMany(project: string, images: readonly string[]): Promise<(ImageSchedule | undefined)[]>;
  /** Who set each image's schedule now (undefined: none), in one round trip. */
  owners(project: string, images: readonly string[]): Promise<(string | undefined)[]>;
  /** Steps due at `nowMs`, the oldest first, at most `limit`. */
  due(nowMs: number, limit: number): Promise<DueStep[]>;
  /** Takes a step off the index once the operation that enacts it exists. */
  taken(step: DueStep): Promise<void>;
}

/** Kept this long past its last step, so a late reader still sees whose schedule it was. */
const KEEP_AFTER_LAST_MS = 7 * 24 * 3600 * 1000;

/**
 * Schedules in Redis: `P:{project}:schedule:IMAGE` holds the image's schedule; every step is also
 * a member of `P:schedule-due` scored by its time, which each worker's reconciler reads. The
 * record is written first, so a step in the index always has its schedule to be checked against;
 * a step of a replaced schedule is found stale (its `by` differs) and dropped.
 */
export function createReleaseSchedules(redis: RedisClient, prefix: string): ReleaseSchedules {
  const member = (project: string, image: string, step: ScheduledStep, by: string) =>
    JSON.stringify([project, image, step.state, by]);
  return guardRedisCalls({
    async set(project: string, image: string, schedule: ImageSchedule) {
      // The schedule it replaces leaves the index too (its steps would only be found stale).
      const before = await redis.get(scheduleKey(prefix, project, image));
      const old = before === null ? undefined : parseSchedule(before);
      if (old !== undefined && old.steps.length > 0)
        await redis.zrem(
          scheduleDueKey(prefix),
          ...old.steps.map((s) => member(project, image, s, old.by)),
        );
      const last = Math.max(Date.now(), ...schedule.steps.map((s) => s.atMs));
      await redis.set(
        scheduleKey(prefix, project, image),
        JSON.stringify(schedule),
        "PX",
        last - Date.now() + KEEP_AFTER_LAST_MS,
      );
      if (schedule.steps.length > 0)
        await redis.zadd(
          scheduleDueKey(prefix),
          ...schedule.steps.flatMap((s) => [s.atMs, member(project, image, s, schedule.by)]),
        );
    },
    async clear(project: string, image: string) {
      const before = await redis.get(scheduleKey(prefix, project, image));
      const old = before === null ? undefined : parseSchedule(before);
      await redis.del(scheduleKey(prefix, project, image));
      if (old !== undefined && old.steps.length > 0)
        await redis.zrem(
          scheduleDueKey(prefix),
          ...old.steps.map((s) => member(project, image, s, old.by)),
        );
    },
    async get(project: string, image: string) {
      const json = await redis.get(scheduleKey(prefix, project, image));
      return json === null ? undefined : parseSchedule(json);
    },
    async getMany(project: string, images: readonly string[]) {
      if (images.length === 0) return [];
      const values = await redis.mget(...images.map((i) => scheduleKey(prefix, project, i)));
      return values.map((v) => (v === null ? undefined : parseSchedule(v)));
    },
    async owners(project: string, images: readonly string[]) {
      if (images.length === 0) return [];
      const values = await redis.mget(...images.map((i) => scheduleKey(prefix, project, i)));
      return values.map((v) => (v === null ? undefined : parseSchedule(v)?.by));
    },
    async due(nowMs: number, limit: number) {
      const flat = await redis.zrangebyscore(
        scheduleDueKey(prefix),
        "-inf",
        nowMs,
        "WITHSCORES",
        "LIMIT",
        0,
        limit,
      );
      const steps: DueStep[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const m = flat[i] ?? "";
        const parts = parseMember(m);
        // A member no release wrote (or a newer one's): dropped, so it cannot stop every pass.
        if (parts === undefined) {
          await redis.zrem(scheduleDueKey(prefix), m);
          continue;
        }
        const [project, image, state, by] = parts;
        steps.push({
          project,
          image,
          state: state,
          atMs: Number(flat[i + 1]),
          by,
          member: m,
        });
      }
      return steps;
    },
    async taken(step: DueStep) {
      await redis.zrem(scheduleDueKey(prefix), step.member);
    },
  });
}

/** A stored schedule, or undefined for one this release cannot read (treated as none). */
function parseSchedule(json: string): ImageSchedule | undefined {
  try {
    const parsed = JSON.parse(json) as Partial<ImageSchedule>;
    return typeof parsed.by === "string" && Array.isArray(parsed.steps)
      ? (parsed as ImageSchedule)
      : undefined;
  } catch {
    return undefined;
  }
}

const STATES = new Set(["DEPRECATED", "OBSOLETE", "DELETED"]);

/** A due index member, `[project, image, state, by]`, or undefined when it is not one. */
function parseMember(m: string): [string, string, ScheduledStep["state"], string] | undefined {
  try {
    const parts = JSON.parse(m) as unknown;
    if (
      Array.isArray(parts) &&
      parts.length === 4 &&
      parts.every((p) => typeof p === "string" && p !== "") &&
      STATES.has(parts[2] as string)
    )
      return parts as [string, string, ScheduledStep["state"], string];
  } catch {
    // not JSON
  }
  return undefined;
}
