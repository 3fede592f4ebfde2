// `npm start`'s launcher: the whole local stack from the builds, and Ctrl-C leaves nothing running.
import { Operation_Status } from "@imagesvc/proto";
import { freePort, startNpmStart, useTestRedis } from "@imagesvc/testing";
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { operationRef, serviceClient } from "./stack.test-helper";

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
    const stack = await startNpmStart({
      REDIS_URL: redis.url,
      PORT: port,
      EMULATOR_OPERATION_DURATION_MS: "500",
      // The documented way to see a cancel: operations wait 30 s before a worker takes them.
      JOB_START_DELAY_MS: "30000",
    });
    const launcher = stack.launcher;
    try {
      const out = stack.output();
      expect(out).toContain(`gateway ready: http://127.0.0.1:${port}`);
      expect(out).toContain(`export IMAGES_GATEWAY=http://127.0.0.1:${port}`);
      expect(out).toContain("node dist/apps/cli/main.js create");

      const children = execFileSync("ps", ["-o", "pid=", "--ppid", String(launcher.pid)])
        .toString()
        .trim()
        .split(/\s+/)
        .map(Number);
      expect(children.length).toBeGreaterThanOrEqual(3); // emulator, worker, gateway

      const client = serviceClient(`http://127.0.0.1:${port}`);
      const op = await client.createImage({
        project: "my-project",
        image: { name: "started", sourceImage: "global/images/base" },
      });
      const cancelled = await client.cancelOperation(operationRef(op));
      expect(cancelled.status).toBe(Operation_Status.DONE);
      expect(cancelled.error?.errors[0]?.code).toBe("CANCELLED");
      const prefix = /keys under (imagesvc-local-[0-9a-f]+), removed on exit/.exec(out)?.[1];
      expect(prefix).toBeDefined();
      const keys = () =>
        redis.client
          .keys(`${prefix ?? ""}:*`)
          .then(async (k) => [...k, ...(await redis.client.keys(`{${prefix ?? ""}:queue}*`))]);
      expect((await keys()).length).toBeGreaterThan(0);

      expect(await stack.stop()).toBe(0);
      const after = stack.output();
      expect(after).toContain("[start] stopped");
      // Nothing of this run is left in Redis: the emulator forgot its images with it.
      expect(after).toMatch(/removed this run's \d+ Redis keys/);
      expect(await keys()).toEqual([]);
      for (const pid of children) expect(alive(pid)).toBe(false);
    } finally {
      await stack.stop();
      await redis.cleanup();
    }
  });
});
