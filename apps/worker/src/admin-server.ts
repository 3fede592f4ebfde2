import type { Metrics } from "@imagesvc/telemetry";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface AdminServerOptions {
  readonly port: number;
  readonly host: string;
  readonly metrics: Metrics;
  /** True while the worker takes jobs and reaches Redis. */
  readonly ready: () => boolean;
  /** Refreshes gauges read at scrape time (queue depth). */
  readonly beforeScrape: () => Promise<void>;
}

/** The worker's admin port: /healthz (alive), /readyz (taking jobs), /metrics (Prometheus). */
export async function startAdminServer(
  options: AdminServerOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const reply = (status: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    const path = (req.url ?? "").split("?")[0];
    if (path === "/healthz") reply(200, "ok\n");
    else if (path === "/readyz")
      reply(options.ready() ? 200 : 503, options.ready() ? "ready\n" : "not ready\n");
    else if (path === "/metrics") {
      options
        .beforeScrape()
        .then(() => options.metrics.registry.metrics())
        .then(
          (text) => {
            reply(200, text, options.metrics.registry.contentType);
          },
          () => {
            reply(503, "metrics unavailable: Redis does not answer\n");
          },
        );
    } else reply(404, "not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
