import { loadSecretBox } from "@imagesvc/secrets";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Operation_Status } from "@imagesvc/proto";
import { createLogger } from "@imagesvc/telemetry";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { drain, imageRequest, serviceClient, startStack } from "./stack.test-helper";

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
      const worker = await stack.startWorker({ ADMIN_HOST: "127.0.0.1" });
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
      expect(sample(workerMetrics, "imagesvc_jobs_total", { outcome: "succeeded" })).toBe(1);
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

describe("traces and logs", () => {
  it("carries the caller's trace onto Compute, logs operation, request id and trace id, and never a secret", async () => {
    const gatewayLines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        gatewayLines.push(
          ...chunk
            .toString()
            .split("\n")
            .filter((l) => l !== ""),
        );
        done();
      },
    });
    // A customer-supplied key needs a service key to seal it with (libs/secrets).
    const keyFile = join(mkdtempSync(join(tmpdir(), "observability-")), "secrets.key");
    writeFileSync(keyFile, randomBytes(32).toString("base64"));
    const stack = await startStack({
      gateway: { log: createLogger("gateway", "debug", sink), secrets: loadSecretBox(keyFile) },
    });
    try {
      const worker = await stack.startWorker({ LOG_LEVEL: "debug", SECRETS_KEY_FILE: keyFile });
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const bearer = "do-not-log-this-token";
      const rawKey = Buffer.alloc(32, 9).toString("base64");
      const client = serviceClient(stack.gateway.url, {
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
        authorization: `Bearer ${bearer}`,
      });
      const op = await client.createImage({
        ...imageRequest("traced"),
        image: { ...imageRequest("traced").image, imageEncryptionKey: { rawKey } },
      });
      const done = await client.waitOperation({ project: "my-project", operation: op.name });
      expect(done.status).toBe(Operation_Status.DONE);
      await worker.stop();

      // The trace reached Compute on the insert and on every wait.
      const carried = stack.emulator.admin.state().traceparents;
      for (const method of ["images.insert", "globalOperations.wait"]) {
        const calls = carried.filter((t) => t.method === method);
        expect(calls.length).toBeGreaterThan(0);
        for (const call of calls)
          expect(call.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      }

      const accepted = gatewayLines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l["msg"] === "image creation accepted");
      expect(accepted).toMatchObject({
        operation: op.name,
        requestId: op.clientOperationId,
        traceId,
      });
      const workerDone = worker.lines.find((l) => l["msg"] === "operation DONE");
      expect(workerDone).toMatchObject({
        operation: op.name,
        requestId: op.clientOperationId,
        traceId,
      });

      const everything = [...gatewayLines, ...worker.lines.map((l) => JSON.stringify(l))].join(
        "\n",
      );
      expect(everything).not.toContain(bearer);
      expect(everything).not.toContain(rawKey);
      expect(everything).not.toMatch(/ya29\./);
    } finally {
      await stack.close();
    }
  });
});
