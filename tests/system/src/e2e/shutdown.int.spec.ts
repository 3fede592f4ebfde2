// SIGTERM against real child processes, with streams open and jobs active (docs/design.md, invariant 6).
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { startComputeEmulator } from "@imagesvc/compute-emulator";
import { ImageService, Operation_Status } from "@imagesvc/proto";
import { freePort, spawnApp, useTestRedis } from "@imagesvc/testing";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { drain, imageRequest } from "./stack.test-helper";

const dist = (app: string) =>
  fileURLToPath(new URL(`../../../../dist/apps/${app}/main.js`, import.meta.url));

describe("SIGTERM", () => {
  it("drains: streams end with UNAVAILABLE, active jobs are handed back, and nothing is lost", async () => {
    const emulator = await startComputeEmulator({ operationDurationMs: 4000, waitCapMs: 60_000 });
    const redis = await useTestRedis();
    const prefix = redis.prefix.slice(0, -1);
    const port = String(await freePort());
    const workerEnv = {
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      COMPUTE_ENDPOINT: emulator.url,
      GCE_METADATA_HOST: emulator.metadataHost,
      METADATA_SERVER_DETECTION: "assume-present",
      ADMIN_PORT: "0",
    };
    const gatewayEnv = {
      PORT: port,
      HOST: "127.0.0.1",
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      AUTH_MODE: "none",
      PREFLIGHT: "off",
    };
    const client = createClient(
      ImageService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "2" }),
    );
    let gateway = await spawnApp({
      main: dist("gateway"),
      env: gatewayEnv,
      ready: "gateway listening",
    });
    let worker = await spawnApp({ main: dist("worker"), env: workerEnv, ready: "worker ready" });
    try {
      const ops = await Promise.all(
        Array.from({ length: 5 }, (_, i) => client.createImage(imageRequest(`drain-${i}`))),
      );
      const streams = ops.flatMap((op) =>
        Array.from({ length: 4 }, () =>
          drain(client.watchOperation({ project: "my-project", operation: op.name })).catch(
            (e: unknown) => e,
          ),
        ),
      );
      // Every job has reached Compute and is following its operation.
      for (
        let i = 0;
        i < 200 && (emulator.admin.state().calls["globalOperations.wait"] ?? 0) < 5;
        i++
      )
        await new Promise((r) => setTimeout(r, 20));

      let started = Date.now();
      expect(await worker.stop("SIGTERM")).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(
        worker.lines.some(
          (l) => l["msg"] === "shutting down: handing the job back for another worker",
        ),
      ).toBe(true);

      started = Date.now();
      expect(await gateway.stop("SIGTERM")).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
      for (const outcome of await Promise.all(streams)) {
        expect(outcome).toBeInstanceOf(ConnectError);
        expect((outcome as ConnectError).code).toBe(Code.Unavailable);
      }

      // A new gateway and worker take over; every operation reaches DONE with one image.
      gateway = await spawnApp({
        main: dist("gateway"),
        env: gatewayEnv,
        ready: "gateway listening",
      });
      worker = await spawnApp({ main: dist("worker"), env: workerEnv, ready: "worker ready" });
      for (const op of ops) {
        const done = await client.waitOperation({ project: "my-project", operation: op.name });
        expect(done.status).toBe(Operation_Status.DONE);
        expect(done.error).toBeUndefined();
        expect(
          emulator.admin
            .state()
            .images.filter((img) => img.name === op.targetLink.split("/").pop()),
        ).toHaveLength(1);
      }
    } finally {
      await worker.stop();
      await gateway.stop();
      await emulator.close();
      await redis.cleanup();
    }
  });
});

describe("configuration", () => {
  it("refuses to start a worker with neither COMPUTE_ENDPOINT nor Google credentials, saying what to set", async () => {
    const failed = await spawnApp({
      main: dist("worker"),
      env: { REDIS_URL: "redis://127.0.0.1:1" },
      ready: "worker ready",
      timeoutMs: 5000,
    }).catch((e: unknown) => e);
    expect(String(failed)).toMatch(/exited with 1/);
    expect(String(failed)).toMatch(
      /COMPUTE_ENDPOINT: is not set and no Google credentials are configured/,
    );
  });

  it("refuses to start a gateway with a bad variable, naming it", async () => {
    const failed = await spawnApp({
      main: dist("gateway"),
      env: { PORT: "eighty", AUTH_MODE: "none" },
      ready: "gateway listening",
      timeoutMs: 5000,
    }).catch((e: unknown) => e);
    expect(String(failed)).toMatch(/PORT: \\"eighty\\" is not a whole number/);
  });
});
