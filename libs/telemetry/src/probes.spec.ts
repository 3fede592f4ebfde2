import { describe, expect, it } from "vitest";
import { createMetrics } from "./metrics";
import { probeHandler, type ProbeResponse } from "./probes";

/** Collects what a probe answers. */
function response() {
  const seen: { status?: number; type?: string; body?: string } = {};
  let done: () => void = () => undefined;
  const ended = new Promise<void>((r) => (done = r));
  const res: ProbeResponse = {
    writeHead(status, headers) {
      seen.status = status;
      seen.type = headers["content-type"];
    },
    end(body) {
      seen.body = body;
      done();
    },
  };
  return { res, seen, ended };
}

describe("probeHandler", () => {
  const metrics = createMetrics("probe-test");

  it("answers /healthz always, /readyz by readiness, and leaves other paths alone", () => {
    let ready = false;
    const probes = probeHandler({ metrics, ready: () => ready });
    const alive = response();
    expect(probes(alive.res, "/healthz")).toBe(true);
    expect(alive.seen).toMatchObject({ status: 200, body: "ok\n" });
    const notReady = response();
    probes(notReady.res, "/readyz");
    expect(notReady.seen.status).toBe(503);
    ready = true;
    const isReady = response();
    probes(isReady.res, "/readyz");
    expect(isReady.seen).toMatchObject({ status: 200, body: "ready\n" });
    expect(probes(response().res, "/other")).toBe(false);
  });

  it("serves the metrics after refreshing the scrape-time gauges, and 503 when they cannot be read", async () => {
    let refreshed = 0;
    const ok = response();
    const beforeScrape = () => {
      refreshed += 1;
    };
    probeHandler({ metrics, ready: () => true, beforeScrape })(ok.res, "/metrics");
    await ok.ended;
    expect(refreshed).toBe(1);
    expect(ok.seen.status).toBe(200);
    expect(ok.seen.body).toMatch(/imagesvc_jobs_total/);
    const down = response();
    probeHandler({
      metrics,
      ready: () => true,
      beforeScrape: () => Promise.reject(new Error("Redis is down")),
    })(down.res, "/metrics");
    await down.ended;
    expect(down.seen).toMatchObject({ status: 503 });
  });
});
