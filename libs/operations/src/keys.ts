import { Operation_Status } from "@imagesvc/proto";

/**
 * Redis key layout. Every key of one project carries the hash tag `{project}`, so an operation's
 * record, its request-id entry and its project's indexes live in one Redis Cluster slot and one
 * Lua script may touch them all.
 *
 * - `P:{project}:op:NAME`      hash: the operation record, its fields in `RECORD_FIELDS` below
 * - `P:{project}:rid:ID`       string: the operation name a request id maps to
 * - `P:{project}:ops`          sorted set, every operation; `P:{project}:ops:STATUS` one per status
 * - `P:project-activity`       sorted set: project → when it last had an operation created (ms);
 *                              the sweeper walks the projects active within the retention
 * - `P:{ratelimit:PRINCIPAL}`  hash: CreateImage's token bucket of a principal (take-token.lua)
 * - `P:{computequota:PROJECT:KIND}` hash: the workers' shared budget of Compute's rate quota of
 *                              a project, KIND `write` or `read` (take-token.lua, drain-tokens.lua)
 * - `P:{project}:family:NAME`  string: the release operation changing image family NAME now
 *                              (`@IMAGE` for an image of no family)
 * - `P:{project}:schedule:IMAGE` string: the image's schedule (release-schedules.ts), JSON
 * - `P:schedule-due`            sorted set: every scheduled step, by when it is due (ms)
 * - `P:{project}:policies`      hash: family → its retention policy, JSON (family-policies.ts)
 * - `P:{project}:rolled-back:FAMILY` set: the images a rollback retired (rolled-back.ts)
 * - `P:policy-projects`         set: the projects with a retention policy
 * - `P:sweeper-lock`           string: the token of the worker sweeping now (its own lock scripts)
 * - `P:pubsub-mode`, `P:settings`: the deployment's recorded pub/sub mode and shared settings
 *                              (libs/redis); `{P:queue}:…`: BullMQ's keys (libs/queue)
 *
 * The index members are `INVERTED_TIME:NAME` with score 0, so ZRANGE BYLEX lists newest first and
 * a member is an exact, stable page cursor. One write in sixteen that adds to an index (by the
 * operation name's random last digit) also trims from it the members created before the
 * retention. An index's expiry is renewed by a process once per slack period (the retention
 * ÷ 16, at most a minute) to the retention plus that slack, so it outlives every member's record;
 * a record's, by every write but those within the slack after its create. A listing skips a
 * member whose record is gone. Updates are published on a channel named like the record key: one channel per
 * operation, so a gateway receives only what its watchers want. A message is
 * `<the writer's time in ms> <Operation JSON>`.
 *
 * The writes are the Lua scripts in `lua/`: `create-operation.lua` (the record, the request id,
 * the indexes) and `write-operation.lua` (a lifecycle step and/or a version, moved between the
 * status indexes and published). Each header lists its KEYS, ARGV and reply; TypeScript passes
 * them by name through `lua/scripts.generated.ts`, which tools/lua/generate.mjs makes from those
 * headers.
 */
export function operationKeys(prefix: string, project: string, name: string) {
  const base = `${prefix}:{${project}}`;
  return {
    record: `${base}:op:${name}`,
    channel: `${base}:op:${name}`,
    all: `${base}:ops`,
    byStatus: (status: Operation_Status) => `${base}:ops:${Operation_Status[status]}`,
  };
}

/**
 * The fields of an operation record (the hash at `P:{project}:op:NAME`), by what they hold. The
 * names are short because every record carries them, and they are part of the stored format:
 * processes of two releases read each other's records during a rolling upgrade, so a name never
 * changes meaning. TypeScript reads and writes them through this map only; the Lua scripts spell
 * them out, and each script's header says which it reads and writes.
 */
export const RECORD_FIELDS = {
  /**
   * `v`: the operation's version, 1 at create and one more for each step forward. Redis owns it:
   * only the scripts write it, and the stored Operation JSON carries version 0.
   */
  version: "v",
  /**
   * `s`: the status as its `Operation_Status` number (1 PENDING, 2 RUNNING, 3 DONE), so that
   * write-operation.lua can refuse a step back. Written with each version.
   */
  status: "s",
  /** `p`: the progress, 0-100, never decreasing. Written with each version. */
  progress: "p",
  /** `op`: the Operation as JSON, with version 0 (see `v`). Written with each version. */
  operation: "op",
  /**
   * `rh`: the request fingerprint, a digest of the CreateImage request that a repeat of its
   * request id must match. Written once, by create-operation.lua.
   */
  fingerprint: "rh",
  /**
   * `rq`: the request as stored (libs/queue's StoredRequest JSON): what a worker runs the operation
   * from. It may carry a sealed key. Written by create-operation.lua, emptied (set to '') by
   * write-operation.lua at DONE.
   */
  request: "rq",
  /**
   * `nt`: the request's webhook (libs/queue's Notification JSON), absent when it asked for none.
   * Kept past DONE (it holds no secret), so whoever ends an operation can still announce it.
   * Written once, by create-operation.lua.
   */
  notification: "nt",
  /** `ct`: when the operation was created, ms since the epoch. Written once, by create-operation.lua. */
  createdMs: "ct",
  /**
   * `ls`: the lifecycle's sequence number, 0 at create and one more for each committed step;
   * `commit` is a compare-and-set on it. Written by both scripts.
   */
  lifecycleSeq: "ls",
  /**
   * `lc`: the lifecycle state, as its owner libs/lifecycle encodes it (absent on records written
   * before lifecycles existed). Written by both scripts.
   */
  lifecycle: "lc",
  /**
   * `hs`: the versions before the current one, oldest first, one Operation JSON (with its
   * version) per line: the newest `HISTORY_MAX - 1` of them. Written with each version by
   * write-operation.lua (absent until the second version, and on records of releases before it).
   */
  history: "hs",
  /** `hn`: how many versions `hs` holds. Written with it. */
  historyCount: "hn",
  /**
   * `rv`: the stored request (as `rq`) without its sealed keys, kept from DONE on, when `rq` goes:
   * what the caller asked for, for the operation's history. Written by write-operation.lua.
   */
  requestView: "rv",
} as const;

/** How many versions an operation's record keeps, the current one included (`hs`). */
export const HISTORY_MAX = 100;

export const requestIdKey = (prefix: string, project: string, requestId: string) =>
  `${prefix}:{${project}}:rid:${requestId.toLowerCase()}`;
/** A sorted set, not the set `P:projects` of earlier versions, which grew forever (delete it). */
export const projectsKey = (prefix: string) => `${prefix}:project-activity`;

/** The newest operation sorts first: ms since epoch, subtracted from 13 nines. */
const MAX_MS = 9_999_999_999_999;
export const indexMember = (createdMs: number, name: string) =>
  `${String(MAX_MS - createdMs).padStart(13, "0")}:${name}`;
/**
 * The exclusive lex bound after which an index's members were created before `cutoffMs`: from it
 * to `+` (ZREMRANGEBYLEX, ZREVRANGEBYLEX) are exactly the operations older than the cutoff.
 */
export const indexBoundBefore = (cutoffMs: number) =>
  `(${String(MAX_MS - cutoffMs).padStart(13, "0")};`;
export const nameOfMember = (member: string) => member.slice(member.indexOf(":") + 1);

export const rateLimitKey = (prefix: string, principal: string) =>
  `${prefix}:{ratelimit:${principal}}`;
export const computeQuotaKey = (prefix: string, project: string, kind: "write" | "read") =>
  `${prefix}:{computequota:${project}:${kind}}`;
export const sweeperLockKey = (prefix: string) => `${prefix}:sweeper-lock`;
/** A string: the release operation that holds an image family now (family-claims.ts). */
export const familyClaimKey = (prefix: string, project: string, family: string) =>
  `${prefix}:{${project}}:family:${family}`;
/** A string: an image's schedule of deprecation steps, JSON (release-schedules.ts). */
export const scheduleKey = (prefix: string, project: string, image: string) =>
  `${prefix}:{${project}}:schedule:${image}`;
/** A sorted set of every scheduled step of the deployment, scored by when it is due. */
export const scheduleDueKey = (prefix: string) => `${prefix}:schedule-due`;
/** A hash: family → retention policy JSON (family-policies.ts). */
export const policiesKey = (prefix: string, project: string) => `${prefix}:{${project}}:policies`;
/** A set of the projects that have a family policy. */
export const policyProjectsKey = (prefix: string) => `${prefix}:policy-projects`;
/** A string held while one worker runs a family's retention pass (reconciler). */
export const retentionPassKey = (prefix: string, project: string, family: string) =>
  `${prefix}:{${project}}:retention-pass:${family}`;
/** A set: the images of a family a rollback retired (rolled-back.ts). */
export const rolledBackKey = (prefix: string, project: string, family: string) =>
  `${prefix}:{${project}}:rolled-back:${family}`;
