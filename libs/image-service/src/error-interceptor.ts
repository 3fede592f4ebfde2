import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { RedisUnavailableError, writeRefusal } from "@imagesvc/redis";
import { storageRefused, storageUnavailable } from "./rpc/errors";
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
      if (e instanceof RedisUnavailableError) {
        log.warn({ err: e, rpc: req.method.name }, "redis unavailable");
        return storageUnavailable();
      }
      if (req.signal.aborted) {
        // The caller went away (a closed tab, a cancelled stream) or its deadline passed: not an
        // error of ours, and no stack to log.
        const why = req.signal.reason instanceof Error ? req.signal.reason.message : "aborted";
        log.debug({ rpc: req.method.name, why }, "the client went away");
        return new ConnectError("the call was cancelled", Code.Canceled);
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
