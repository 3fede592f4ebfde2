import { ReplyError } from "ioredis";

/**
 * Why Redis refused a write, read from its error reply's code (the reply's first word):
 * - `OOM`: used memory is past `maxmemory` under the `noeviction` policy;
 * - `READONLY`: the connection reached a replica (a failover in progress, or a wrong address);
 * - `MISCONF`: Redis cannot persist to disk and `stop-writes-on-bgsave-error` is on.
 * Each passes once Redis accepts writes again, so callers can retry; none is a bug of ours.
 */
export type WriteRefusal = "OOM" | "READONLY" | "MISCONF";

const CODES = new Set<string>(["OOM", "READONLY", "MISCONF"]);

/** ioredis types its reply error class as `any`; it is an Error subclass (redis-errors). */
const RedisReplyError = ReplyError as new (message: string) => Error;

/**
 * The refusal behind `e`, or undefined when `e` is not one. A script's refused write carries the
 * code too (a refused first write leaves nothing written: Redis checks before a script's first
 * write and never stops one midway), and a MULTI that Redis discarded (EXECABORT) carries it in
 * the errors of the commands it queued.
 */
export function writeRefusal(e: unknown): WriteRefusal | undefined {
  if (!(e instanceof RedisReplyError)) return undefined;
  const code = replyCode(e);
  if (CODES.has(code)) return code as WriteRefusal;
  if (code === "EXECABORT") {
    const previous = (e as { previousErrors?: unknown }).previousErrors;
    for (const p of Array.isArray(previous) ? (previous as unknown[]) : []) {
      const refusal = writeRefusal(p);
      if (refusal !== undefined) return refusal;
    }
  }
  return undefined;
}

/** A Redis error reply is `CODE message`; the code is its first word. */
function replyCode(e: Error): string {
  const space = e.message.indexOf(" ");
  return space === -1 ? e.message : e.message.slice(0, space);
}
