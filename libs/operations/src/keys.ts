import { Operation_Status } from "@imagesvc/proto";

/**
 * Redis key layout. Every key of one project carries the hash tag `{project}`, so an operation's
 * record, its request-id entry and its project's indexes live in one Redis Cluster slot and one
 * Lua script may touch them all.
 *
 * - `P:{project}:op:NAME`      hash: v (version), s (status), p (progress), op (Operation JSON
 *                              without version), rh (request fingerprint), rq (job payload JSON), ct
 * - `P:{project}:rid:ID`       string: the operation name a request id maps to
 * - `P:{project}:ops`          sorted set, every operation; `P:{project}:ops:STATUS` one per status
 * - `P:project-activity`       sorted set: project → when it last had an operation created (ms);
 *                              the sweeper walks the projects active within the retention
 *
 * The index members are `INVERTED_TIME:NAME` with score 0, so ZRANGE BYLEX lists newest first and
 * a member is an exact, stable page cursor. Every write that adds to an index also trims from it
 * the members created before the retention, and the index expires with its last write. Updates are published on a channel named like the
 * record key: one channel per operation, so a gateway receives only what its watchers want. A
 * message is `<publish time in ms> <Operation JSON>`.
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

export const requestIdKey = (prefix: string, project: string, requestId: string) =>
  `${prefix}:{${project}}:rid:${requestId.toLowerCase()}`;
/** A sorted set, not the set `P:projects` of earlier versions, which grew forever (delete it). */
export const projectsKey = (prefix: string) => `${prefix}:project-activity`;

/** The newest operation sorts first: ms since epoch, subtracted from 13 nines. */
const MAX_MS = 9_999_999_999_999;
export const indexMember = (createdMs: number, name: string) =>
  `${String(MAX_MS - createdMs).padStart(13, "0")}:${name}`;
/** ZREMRANGEBYLEX bound that removes every member created before `cutoffMs`. */
export const olderThan = (cutoffMs: number) => `(${String(MAX_MS - cutoffMs).padStart(13, "0")};`;
export const nameOfMember = (member: string) => member.slice(member.indexOf(":") + 1);
