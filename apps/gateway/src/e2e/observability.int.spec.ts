import { spawnApp } from "@imagesvc/testing";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { drain, imageRequest, startStack } from "./stack.test-helper";

const WORKER = fileURLToPath(new URL("../../../../dist/apps/worker/main.js", import.meta.url));

/** The value of the series `name` carrying `labels` (in any order) in Prometheus text, or undefined. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const line = text
    .split("\n")
    .find(
      (l) =>
        (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) &&
        Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
    );
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("metrics", () => {
  it("serves RPC, stream, delivery, queue, job and Compute metrics", async () => {
    const stack = await startStack();
    try {
      const worker = await spawnApp({
        main: WORKER,
        env: {
          REDIS_URL: stack.redis.url,
          REDIS_PREFIX: stack.prefix,
          COMPUTE_ENDPOINT: stack.emulator.url,
          GCE_METADATA_HOST: stack.emulator.metadataHost,
          METADATA_SERVER_DETECTION: "assume-present",
          ADMIN_PORT: "0",
          ADMIN_HOST: "127.0.0.1",
        },
        ready: "worker ready",
      });
      const admin = String(worker.readyLine["admin"]);
      const op = await stack.client.createImage(imageRequest("metered"));
      await drain(stack.client.watchOperation({ project: "my-project", operation: op.name }));
      await stack.client
        .getOperation({
          project: "my-project",
          operation: "operation-1-0123456789abcdef0123456789abcdef",
        })
        .catch(() => undefined);

      const gateway = await (await fetch(`${stack.gateway.url}/metrics`)).text();
      expect(
        sample(gateway, "imagesvc_rpc_requests_total", { method: "CreateImage", code: "ok" }),
      ).toBe(1);
      expect(
        sample(gateway, "imagesvc_rpc_requests_total", {
          method: "GetOperation",
          code: "NotFound",
        }),
      ).toBe(1);
      expect(
        sample(gateway, "imagesvc_rpc_duration_seconds_count", { method: "WatchOperation" }),
      ).toBe(1);
      expect(sample(gateway, "imagesvc_update_publish_to_deliver_seconds_count")).toBeGreaterThan(
        0,
      );
      expect(sample(gateway, "imagesvc_watch_streams_open")).toBe(0);

      const workerMetrics = await (await fetch(`${admin}/metrics`)).text();
      expect(sample(workerMetrics, "imagesvc_jobs_total", { outcome: "done" })).toBe(1);
      expect(
        sample(workerMetrics, "imagesvc_compute_calls_total", {
          method: "images.insert",
          status: "200",
          reason: "",
        }),
      ).toBe(1);
      expect(
        sample(workerMetrics, "imagesvc_compute_calls_total", {
          method: "globalOperations.wait",
          status: "200",
        }),
      ).toBeGreaterThan(0);
      expect(sample(workerMetrics, "imagesvc_queue_jobs", { state: "completed" })).toBe(1);
      expect(sample(workerMetrics, "imagesvc_queue_jobs", { state: "waiting" })).toBe(0);
      expect((await fetch(`${admin}/healthz`)).status).toBe(200);
      expect((await fetch(`${admin}/readyz`)).status).toBe(200);
      expect(await worker.stop()).toBe(0);
    } finally {
      await stack.close();
    }
  });
});
