import type { Metrics } from "./metrics";

/** What a probe writes its answer to: an HTTP/1.1 or an HTTP/2 compatibility response. */
export interface ProbeResponse {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
}

export interface ProbeOptions {
  readonly metrics: Metrics;
  /** Whether the process can do its work now (Redis reachable, not draining): `/readyz`. */
  readonly ready: () => boolean;
  /** Refreshes gauges read at scrape time (queue depth, open streams); may ask Redis. */
  readonly beforeScrape?: () => void | Promise<void>;
}

/**
 * The plain HTTP probes every process serves, the same everywhere: `/healthz` (the process is
 * alive), `/readyz` (it can do its work: 200 or 503) and `/metrics` (Prometheus; 503 when the
 * scrape-time gauges cannot be read, so a monitor can tell that from the process being down).
 * Returns a handler that answers one of them and says true, or leaves the request alone.
 */
export function probeHandler(options: ProbeOptions): (res: ProbeResponse, path: string) => boolean {
  const reply = (res: ProbeResponse, status: number, body: string, type?: string) => {
    res.writeHead(status, { "content-type": type ?? "text/plain; charset=utf-8" });
    res.end(body);
  };
  return (res, path) => {
    switch (path) {
      case "/healthz":
        reply(res, 200, "ok\n");
        return true;
      case "/readyz": {
        const ready = options.ready();
        reply(res, ready ? 200 : 503, ready ? "ready\n" : "not ready\n");
        return true;
      }
      case "/metrics":
        Promise.resolve()
          .then(() => options.beforeScrape?.())
          .then(
            () =>
              options.metrics.registry.metrics().then(
                (text) => {
                  reply(res, 200, text, options.metrics.registry.contentType);
                },
                () => {
                  reply(res, 500, "metrics failed\n");
                },
              ),
            () => {
              reply(res, 503, "metrics unavailable: Redis does not answer\n");
            },
          );
        return true;
      default:
        return false;
    }
  };
}
