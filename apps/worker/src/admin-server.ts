import { probeHandler, type Metrics } from "@imagesvc/telemetry";
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
  const probes = probeHandler(options);
  const server = createServer((req, res) => {
    if (probes(res, (req.url ?? "").split("?")[0] ?? "")) return;
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end("not found\n");
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
