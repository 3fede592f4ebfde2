import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Metrics } from "@imagesvc/telemetry";
import { withStreamHooks } from "./stream-hooks";

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
    return {
      ...res,
      message: withStreamHooks(res.message, {
        end: record,
        error: (e) => {
          record(e);
          return e;
        },
        // The stream stopped before it ended, e.g. a write to a client that has gone.
        cancel: () => {
          record(new ConnectError("the stream was closed before it ended", Code.Canceled));
        },
      }),
    };
  };
}
