// Proves each Dockerfile's steps without a Docker engine: every app runs exactly as its image
// would — a clean directory holding only its build output, `npm ci --omit=dev`, the environment
// docker-compose.yml sets (service addresses pointed at this machine), a non-root uid — and the
// stack becomes ready and completes one CreateImage.
import { Operation_Status } from "@imagesvc/proto";
import { freePort, useTestRedis } from "@imagesvc/testing";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { operationRef, serviceClient } from "./stack.test-helper";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const NON_ROOT = { uid: 65534, gid: 65534 };
const cleanup: (() => void)[] = [];
afterAll(() => {
  for (const undo of cleanup) undo();
});

interface ComposeService {
  environment?: Record<string, string>;
  deploy?: { replicas?: number };
}
const compose = parse(readFileSync(join(ROOT, "docker-compose.yml"), "utf8"), { merge: true }) as {
  services: Record<string, ComposeService>;
};

/** A world-readable temporary directory, since the apps run as another user. */
function openDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  cleanup.push(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** The node binary, somewhere the non-root user can run it (copied if ours is out of its reach). */
function nodeForNonRoot(): string {
  if (process.getuid?.() !== 0) return process.execPath;
  if (spawnSync(process.execPath, ["-v"], NON_ROOT).status === 0) return process.execPath;
  const copy = join(openDir("imagesvc-node-"), "node");
  copyFileSync(process.execPath, copy);
  chmodSync(copy, 0o755);
  return copy;
}

/** The image's filesystem: the app's dist output plus its production dependencies, nothing else. */
function image(app: string): string {
  const dir = openDir(`imagesvc-image-${app}-`);
  for (const file of ["main.js", "main.js.map", "package.json", "package-lock.json"]) {
    copyFileSync(join(ROOT, "dist/apps", app, file), join(dir, file));
  }
  execFileSync(
    "npm",
    ["ci", "--omit=dev", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund"],
    { cwd: dir, stdio: "ignore" },
  );
  return dir;
}

/** Runs `node main.js` in the image directory as a non-root user; resolves with its ready line. */
async function run(node: string, dir: string, env: Record<string, string>, ready: string) {
  const child: ChildProcess = spawn(node, ["--enable-source-maps", "main.js"], {
    cwd: dir,
    env: { NODE_ENV: "production", PATH: process.env["PATH"] ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(process.getuid?.() === 0 ? NON_ROOT : {}),
  });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (text) => {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      if (parsed["msg"] === ready) resolve(parsed);
    });
    child.once("exit", (code) => {
      reject(new Error(`${dir} exited with ${String(code)}: ${stderr}`));
    });
  });
  return { child, line };
}

describe("the containers' steps", () => {
  it("install only production dependencies and run the stack as a non-root user from compose's env", async () => {
    for (const app of ["gateway", "worker", "compute-emulator"]) {
      expect(existsSync(join(ROOT, "dist/apps", app, "package-lock.json"))).toBe(true);
    }
    expect(compose.services["worker"]?.deploy?.replicas).toBe(2);
    const redis = await useTestRedis();
    const redisPort = new URL(redis.url).port;
    const [emulatorPort, gatewayPort, adminPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    // Compose's service names and ports, mapped onto this machine.
    const local = (env: Record<string, string> = {}) =>
      Object.fromEntries(
        Object.entries(env).map(([k, v]) => [
          k,
          v
            .replace("redis://redis:6379", `redis://127.0.0.1:${redisPort}`)
            .replace("compute-emulator:8085", `127.0.0.1:${emulatorPort}`),
        ]),
      );
    const prefix = redis.prefix.slice(0, -1);
    const node = nodeForNonRoot();
    // In the order they start: each app, what it sets on top of compose's environment for it, and
    // the line it logs once ready.
    const apps = (
      [
        ["compute-emulator", { PORT: String(emulatorPort) }, "compute emulator listening"],
        ["worker", { REDIS_PREFIX: prefix, ADMIN_PORT: String(adminPort) }, "worker ready"],
        ["gateway", { REDIS_PREFIX: prefix, PORT: String(gatewayPort) }, "gateway listening"],
      ] as const
    ).map(([app, env, ready]) => ({
      dir: image(app),
      env: { ...local(compose.services[app]?.environment), ...env },
      ready,
    }));
    for (const { dir } of apps) {
      const installed = readFileSync(join(dir, "package-lock.json"), "utf8");
      expect(installed).not.toMatch(/"node_modules\/(vitest|typescript|eslint|nx)"/);
    }

    const processes: ChildProcess[] = [];
    try {
      for (const { dir, env, ready } of apps) {
        const { child } = await run(node, dir, env, ready);
        processes.push(child);
      }

      // As an orchestrator would: wait for readiness (the gateway listens before Redis is connected).
      for (const url of [
        `http://127.0.0.1:${gatewayPort}/readyz`,
        `http://127.0.0.1:${adminPort}/readyz`,
      ]) {
        let status = 0;
        for (let i = 0; i < 100 && status !== 200; i++) {
          status = (await fetch(url)).status;
          if (status !== 200) await new Promise((r) => setTimeout(r, 50));
        }
        expect(status).toBe(200);
      }
      const client = serviceClient(`http://127.0.0.1:${gatewayPort}`);
      const op = await client.createImage({
        project: "my-project",
        image: { name: "from-containers", sourceImage: "global/images/base" },
      });
      expect(op.user).toBe("compose-user");
      const done = await client.waitOperation(operationRef(op));
      expect(done.status).toBe(Operation_Status.DONE);
      expect(done.error).toBeUndefined();
      for (const child of processes.reverse()) {
        child.kill("SIGTERM");
        const [code] = (await once(child, "exit")) as [number | null];
        expect(code).toBe(0);
      }
    } finally {
      for (const child of processes) if (child.exitCode === null) child.kill("SIGKILL");
      await redis.cleanup();
    }
  });
});
