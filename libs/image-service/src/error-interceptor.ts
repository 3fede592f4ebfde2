import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { writeRefusal } from "@imagesvc/redis";
import { storageRefused } from "./rpc/errors";
import { withStreamHooks } from "./stream-hooks";

/**
 * The RPC edge's last line: a ConnectError passes as it is; Redis being unreachable, or refusing
 * writes (out of memory, a read-only replica, a failed save), becomes UNAVAILABLE (retryable),
 * naming the cause; anything else becomes INTERNAL with a generic message, and its details
 * go to the log, never to the caller. Covers unary answers and every message of a stream.
 */
export function errorInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const edge = (e: unknown): ConnectError => {
      if (e instanceof ConnectError) return e;
      const refusal = writeRefusal(e);
      if (refusal !== undefined) {
        log.warn({ err: e, rpc: req.method.name, refusal }, "redis refused a write");
        return storageRefused(refusal);
      }
      if (isRedisUnavailable(e)) {
        log.warn({ err: e, rpc: req.method.name }, "redis unavailable");
        return new ConnectError(
          "the service's storage is unavailable; retry shortly",
          Code.Unavailable,
        );
      }
      log.error({ err: e, rpc: req.method.name }, "unexpected error");
      return new ConnectError("internal error", Code.Internal);
    };
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return { ...res, message: withStreamHooks(res.message, { error: edge }) };
    } catch (e) {
      throw edge(e);
    }
  };
}

const UNAVAILABLE =
  /Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|Stream isn't writeable|max retries per request|ENOTFOUND/i;

/** The errors ioredis raises when Redis cannot be reached or does not answer. */
export function isRedisUnavailable(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  return e.name === "MaxRetriesPerRequestError" || UNAVAILABLE.test(e.message);
}
