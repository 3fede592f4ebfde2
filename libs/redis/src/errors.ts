/**
 * How Redis fails, told by class and reply code, never by message text: an outage (Redis did not
 * answer) and a refusal (Redis answered that it will not write).
 */
import { ReplyError } from "ioredis";

/** ioredis types its reply error class as `any`; it is an Error subclass (redis-errors). */
const RedisReplyError = ReplyError as new (message: string) => Error;

/**
 * Redis did not answer: the connection is down or closed, reconnecting ran out of retries, or a
 * command timed out. Retryable: the caller should try again shortly. The ioredis error is the
 * `cause`.
 */
export class RedisUnavailableError extends Error {
  override readonly name = "RedisUnavailableError";
}

/** ioredis's own classes for a connection that gave up (redis-errors' AbortError and RedisError). */
const OUTAGE_CLASSES = new Set(["MaxRetriesPerRequestError", "ClusterAllFailedError"]);

/**
 * Whether a failed call into ioredis failed because Redis did not answer. Redis's own answers are
 * always a ReplyError; what else ioredis rejects with is the transport failing: its outage
 * classes, Node's system errors (an errno `code`: ECONNREFUSED, ECONNRESET, ETIMEDOUT), or a plain
 * `Error` (a closed connection, a command timeout). Errors of our own classes are never one.
 */
export function isTransportFailure(e: unknown): e is Error {
  if (!(e instanceof Error) || isReply(e)) return false;
  if (OUTAGE_CLASSES.has(e.name)) return true;
  if (typeof (e as NodeJS.ErrnoException).code === "string") return true;
  return Object.getPrototypeOf(e) === Error.prototype;
}

/**
 * The same API, with every failure of Redis to answer raised as a RedisUnavailableError, so that
 * callers tell an outage by its class: each state lib wraps the object it hands out (the store,
 * the queues, the rate limiter) once. Other errors, Redis's replies included, pass as they are.
 */
export function guardRedisCalls<T extends object>(api: T): T {
  const guarded: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(api)) {
    guarded[key] =
      typeof value === "function"
        ? (...args: unknown[]) => {
            const result: unknown = (value as (...a: unknown[]) => unknown).apply(api, args);
            return result instanceof Promise ? result.catch(rethrowOutage) : result;
          }
        : value;
  }
  return guarded as T;
}

/** A reply Redis sent (its class is ioredis's ReplyError): Redis answered. */
function isReply(e: Error): boolean {
  return e instanceof RedisReplyError;
}

/** `e` as a RedisUnavailableError when Redis did not answer; any other error as it is. */
export function redisError(e: unknown): unknown {
  return isTransportFailure(e)
    ? new RedisUnavailableError(`Redis did not answer: ${e.message}`, { cause: e })
    : e;
}

function rethrowOutage(e: unknown): never {
  throw redisError(e);
}

/**
 * Why Redis refused a write, read from its error reply's code (the reply's first word):
 * - `OOM`: used memory is past `maxmemory` under the `noeviction` policy;
 * - `READONLY`: the connection reached a replica (a failover in progress, or a wrong address);
 * - `MISCONF`: Redis cannot persist to disk and `stop-writes-on-bgsave-error` is on.
 * Each passes once Redis accepts writes again, so callers can retry; none is a bug of ours.
 */
export type WriteRefusal = "OOM" | "READONLY" | "MISCONF";

const CODES = new Set<string>(["OOM", "READONLY", "MISCONF"]);

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

/**
 * True when Redis answered WRONGTYPE: the key holds another kind of value than the command reads
 * (a corrupt record, or a key some other program wrote). Read from the reply's code, as above.
 */
export function isWrongType(e: unknown): boolean {
  return e instanceof RedisReplyError && replyCode(e) === "WRONGTYPE";
}

/** A Redis error reply is `CODE message`; the code is its first word. */
function replyCode(e: Error): string {
  const space = e.message.indexOf(" ");
  return space === -1 ? e.message : e.message.slice(0, space);
}
