// The built app, run as a process exactly as its container runs it: `node main.js`, env only.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const MAIN = fileURLToPath(new URL("../../../dist/apps/compute-emulator/main.js", import.meta.url));

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env["PATH"] ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  const firstLine = new Promise<Record<string, unknown>>((resolve) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      lines.push(parsed);
      if (lines.length === 1) resolve(parsed);
    });
  });
  return {
    child,
    lines,
    firstLine,
    // "close" comes after stdout is drained, so every log line has been read by then.
    exit: once(child, "close") as Promise<[number | null, NodeJS.Signals | null]>,
  };
}

describe("compute-emulator main.js", () => {
  it("starts from env, serves Compute and metadata, and exits 0 on SIGTERM", async () => {
    const app = run({
      PORT: "0",
      EMULATOR_STATIC_TOKENS: "abc",
      EMULATOR_OPERATION_DURATION_MS: "0",
      EMULATOR_FAULTS: '[{"route":"images.get","effect":"error","status":503,"count":1}]',
    });
    const ready = await app.firstLine;
    expect(ready).toMatchObject({ msg: "compute emulator listening", level: 30 });
    const url = String(ready["url"]);
    const headers = { authorization: "Bearer abc" };
    const insert = await fetch(`${url}/compute/v1/projects/p-123456/global/images`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        name: "web",
        rawDisk: { source: "https://storage.googleapis.com/b-1/web.tar.gz" },
      }),
    });
    expect(await insert.json()).toMatchObject({ status: "DONE" });
    expect(
      (await fetch(`${url}/compute/v1/projects/p-123456/global/images/web`, { headers })).status,
    ).toBe(503);
    expect(
      (await fetch(`${url}/compute/v1/projects/p-123456/global/images/web`, { headers })).status,
    ).toBe(200);
    const token = await fetch(`${url}/computeMetadata/v1/instance/service-accounts/default/token`, {
      headers: { "Metadata-Flavor": "Google" },
    });
    expect(token.status).toBe(200);

    app.child.kill("SIGTERM");
    const [code] = await app.exit;
    expect(code).toBe(0);
    // Both lines, in either order: pino may flush its last lines out of order at process.exit.
    expect(
      app.lines
        .map((l) => l["msg"])
        .slice(-2)
        .sort(),
    ).toEqual(["stopped", "stopping: draining"]);
    expect(app.lines.find((l) => l["msg"] === "stopping: draining")).toMatchObject({
      signal: "SIGTERM",
    });
  });

  it.each([
    [{ EMULATOR_FAULTS: '{"route":"x"}' }, /EMULATOR_FAULTS: must be a JSON array/],
    [
      { EMULATOR_FAULTS: '[{"route":"images.insert","effect":"error"}]' },
      /EMULATOR_FAULTS\[0\]: an "error" fault needs "status"/,
    ],
    [{ PORT: "http" }, /PORT: "http" is not a whole number between 0 and 65535/],
    [{ EMULATOR_WAIT_CAP_MS: "-5" }, /EMULATOR_WAIT_CAP_MS/],
  ])("refuses to start with %j and says which variable is wrong", async (env, message) => {
    const app = run(env);
    const [code] = await app.exit;
    expect(code).toBe(1);
    expect(String(app.lines.at(-1)?.["msg"])).toMatch(message);
  });
});
