// Several processes on one Redis: two gateways and three workers. Watchers on gateway A follow
// operations created through gateway B and processed by any worker; the jobs spread.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ImageService, Operation_Status } from "@imagesvc/proto";
import { createMetrics } from "@imagesvc/telemetry";
import type { SpawnedApp } from "@imagesvc/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { startGateway } from "@imagesvc/image-service";
import { drain, imageRequest, startStack } from "./stack.test-helper";

describe("scale-out on one Redis", () => {
  it("serves watchers on gateway A from jobs created on gateway B and spread over three workers", async () => {
    const stack = await startStack({ emulator: { operationDurationMs: 1500, waitCapMs: 200 } });
    const gatewayB = await startGateway({
      settings: stack.gatewaySettings(),
      log: pino({ level: "silent" }),
      metrics: createMetrics("gateway-b"),
    });
    const workers: SpawnedApp[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        workers.push(await stack.startWorker({ WORKER_CONCURRENCY: "4" }));
      }
      const viaB = createClient(
        ImageService,
        createConnectTransport({ baseUrl: gatewayB.url, httpVersion: "2" }),
      );
      const ops = await Promise.all(
        Array.from({ length: 24 }, (_, i) => viaB.createImage(imageRequest(`spread-${i}`))),
      );
      // Watch every one on gateway A.
      const finals = await Promise.all(
        ops.map(async (op) =>
          (
            await drain(stack.client.watchOperation({ project: "my-project", operation: op.name }))
          ).at(-1),
        ),
      );
      expect(
        finals.every((f) => f?.status === Operation_Status.DONE && f.error === undefined),
      ).toBe(true);
      expect(stack.gateway.bus.stats()).toMatchObject({ channels: 0, watchers: 0 });

      // Stop the workers first: stop() returns once their output is fully read.
      for (const w of workers) await w.stop();
      const perWorker = workers.map(
        (w) => w.lines.filter((l) => l["msg"] === "operation DONE").length,
      );
      process.stdout.write(
        `SCALE-OUT operations=24 gateways=2 workers=3 perWorker=${perWorker.join("/")}\n`,
      );
      expect(perWorker.reduce((a, b) => a + b, 0)).toBe(24);
      for (const count of perWorker) expect(count).toBeGreaterThan(0);
    } finally {
      for (const w of workers) await w.stop();
      await gatewayB.close();
      await stack.close();
    }
  });
});
