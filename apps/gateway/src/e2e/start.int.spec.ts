// `npm start`'s launcher: the whole local stack from the builds, and Ctrl-C leaves nothing running.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ImageService, Operation_Status } from "@imagesvc/proto";
import { freePort, useTestRedis } from "@imagesvc/testing";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("npm start", () => {
  it("runs the stack, prints the gateway URL and a CLI example, and stops everything on Ctrl-C", async () => {
    const redis = await useTestRedis();
    const port = String(await freePort());
    const launcher = spawn(process.execPath, ["tools/start/start.mjs"], {
      cwd: ROOT,
      env: {
        PATH: process.env["PATH"] ?? "",
        REDIS_URL: redis.url,
        PORT: port,
        EMULATOR_OPERATION_DURATION_MS: "500",
        // The documented way to see a cancel: operations wait 30 s before a worker takes them.
        JOB_START_DELAY_MS: "30000",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    launcher.stdout.on("data", (c: Buffer) => (out += c.toString()));
    try {
      for (let i = 0; i < 300 && !out.includes("Ctrl-C stops everything"); i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(out).toContain(`gateway ready: http://127.0.0.1:${port}`);
      expect(out).toContain(`export IMAGES_GATEWAY=http://127.0.0.1:${port}`);
      expect(out).toContain("node dist/apps/cli/main.js create");

      const children = execFileSync("ps", ["-o", "pid=", "--ppid", String(launcher.pid)])
        .toString()
        .trim()
        .split(/\s+/)
        .map(Number);
      expect(children.length).toBeGreaterThanOrEqual(3); // emulator, worker, gateway

      const client = createClient(
        ImageService,
        createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "2" }),
      );
      const op = await client.createImage({
        project: "my-project",
        image: { name: "started", sourceImage: "global/images/base" },
      });
      const cancelled = await client.cancelOperation({ project: "my-project", operation: op.name });
      expect(cancelled.status).toBe(Operation_Status.DONE);
      expect(cancelled.error?.errors[0]?.code).toBe("CANCELLED");
      const prefix = /keys under (imagesvc-local-[0-9a-f]+), removed on exit/.exec(out)?.[1];
      expect(prefix).toBeDefined();
      const keys = () =>
        redis.client
          .keys(`${prefix ?? ""}:*`)
          .then(async (k) => [...k, ...(await redis.client.keys(`{${prefix ?? ""}:queue}*`))]);
      expect((await keys()).length).toBeGreaterThan(0);

      launcher.kill("SIGINT");
      const [code] = (await once(launcher, "exit")) as [number | null];
      expect(code).toBe(0);
      expect(out).toContain("[start] stopped");
      // Nothing of this run is left in Redis: the emulator forgot its images with it.
      expect(out).toMatch(/removed this run's \d+ Redis keys/);
      expect(await keys()).toEqual([]);
      for (const pid of children) expect(alive(pid)).toBe(false);
    } finally {
      if (launcher.exitCode === null) launcher.kill("SIGKILL");
      await redis.cleanup();
    }
  });
});
