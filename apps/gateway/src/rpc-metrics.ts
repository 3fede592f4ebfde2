import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Metrics } from "@imagesvc/telemetry";

/**
 * Counts every RPC by method and code and records its latency; a stream is measured until it
 * ends, and its code is the one it ended with. Sits outside the error interceptor, so it sees the
 * codes callers see.
 */
export function rpcMetricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const method = req.method.name;
    const started = performance.now();
    const record = (error?: unknown) => {
      const code = error === undefined ? "ok" : Code[ConnectError.from(error).code];
      metrics.rpcRequests.inc({ method, code });
      metrics.rpcDuration.observe({ method }, (performance.now() - started) / 1000);
    };
    let res;
    try {
      res = await next(req);
    } catch (e) {
      record(e);
      throw e;
    }
    if (!res.stream) {
      record();
      return res;
    }
    return { ...res, message: onEnd(res.message, record) };
  };
}

/**
 * The same messages, calling `end` once when they run out or fail. A plain iterator rather than
 * an async generator: a busy stream pays one await per message for it, not a generator's hops.
 */
function onEnd<T>(messages: AsyncIterable<T>, end: (error?: unknown) => void): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = messages[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const result = await it.next();
            if (result.done === true) end();
            return result;
          } catch (e) {
            end(e);
            throw e;
          }
        },
        async return(value?: unknown) {
          return it.return === undefined
            ? { done: true as const, value: value as T }
            : it.return(value);
        },
      };
    },
  };
}
