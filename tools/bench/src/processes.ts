// The stack under test, each part its own process as deployed: a private redis-server, the
// Compute emulator, the gateway and the worker, from their built bundles. Their logs go to files,
// so reading them costs the bench nothing.
import { freePort } from "@imagesvc/testing";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";

const DIST = join(import.meta.dirname, "..", "..", "apps");

export interface AppProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  /** Resident set size now, in bytes, from /proc. */
  rss(): number;
  /** CPU seconds used so far (user + system), all threads, from /proc. */
  cpuSeconds(): number;
  /** CPU seconds of the main (JavaScript) thread alone, from /proc/<pid>/task/<pid>. */
  mainThreadCpuSeconds(): number;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly logDir: string;
  /** Extra `node` flags, e.g. `--cpu-prof`. */
  readonly nodeFlags?: readonly string[];
}

async function waitForHttp(url: string, child: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${String(child.exitCode)}`);
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} did not answer ${url} within 20 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const TICKS = 100; // USER_HZ on Linux

function procStat(pid: number): { rss: number; cpu: number } {
  const status = readFileSync(`/proc/${String(pid)}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rss: rssKb * 1024, cpu: statCpu(`/proc/${String(pid)}/stat`) };
}

/** utime + stime of a /proc stat file, in seconds. */
function statCpu(path: string): number {
  const stat = readFileSync(path, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/**
 * Starts the built app `name` on a free port with the env `envOf(port)` gives, and resolves once
 * `readyPath` on that port answers.
 */
async function startApp(
  name: string,
  envOf: (port: number) => Record<string, string>,
  readyPath: string,
  options: StartOptions,
): Promise<AppProcess> {
  const port = await freePort();
  const env = envOf(port);
  mkdirSync(options.logDir, { recursive: true });
  const log = openSync(join(options.logDir, `${name}.log`), "w");
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeFlags ?? []),
      ...(process.env["BENCH_NODE_FLAGS"]?.split(" ").filter((f) => f !== "") ?? []),
      join(DIST, name, "main.js"),
    ],
    { env: { PATH: process.env["PATH"] ?? "", ...env }, stdio: ["ignore", log, log] },
  );
  await waitForHttp(`http://127.0.0.1:${String(port)}${readyPath}`, child, name);
  const pid = child.pid ?? 0;
  return {
    name,
    child,
    url: `http://127.0.0.1:${String(port)}`,
    rss: () => procStat(pid).rss,
    cpuSeconds: () => procStat(pid).cpu,
    mainThreadCpuSeconds: () => statCpu(`/proc/${String(pid)}/task/${String(pid)}/stat`),
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The emulator; operations finish at once unless `env` says otherwise. */
export function startEmulator(
  options: StartOptions,
  env: Record<string, string> = {},
): Promise<AppProcess> {
  const emulatorEnv = (port: number) => ({
    PORT: String(port),
    EMULATOR_OPERATION_DURATION_MS: "0",
    EMULATOR_WAIT_CAP_MS: "100",
    LOG_LEVEL: "warn",
    ...env,
  });
  return startApp("compute-emulator", emulatorEnv, "/admin/config", options);
}

export function startGateway(
  redisUrl: string,
  prefix: string,
  options: StartOptions,
): Promise<AppProcess> {
  const gatewayEnv = (port: number) => ({
    PORT: String(port),
    HOST: "127.0.0.1",
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    AUTH_MODE: "none",
    DEFAULT_USER: "bench@example.com",
    // The limits stay in the path (a Redis script per CreateImage) but never bite.
    RATE_LIMIT_CREATE_PER_MINUTE: "1000000000",
    RATE_LIMIT_CREATE_BURST: "1000000000",
    MAX_STREAMS_PER_PRINCIPAL: "1000000",
    // The raw disk pre-flight (two Cloud Storage reads per raw_disk request) is measured on its
    // own, not inside CreateImage's figures (docs/performance.md).
    PREFLIGHT: "off",
    LOG_LEVEL: "info",
  });
  return startApp("gateway", gatewayEnv, "/readyz", options);
}

export function startWorker(
  redisUrl: string,
  prefix: string,
  emulator: AppProcess,
  options: StartOptions,
  env: Record<string, string> = {},
): Promise<AppProcess> {
  const workerEnv = (port: number) => ({
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    COMPUTE_ENDPOINT: emulator.url,
    GCE_METADATA_HOST: emulator.url.replace("http://", ""),
    METADATA_SERVER_DETECTION: "assume-present",
    ADMIN_PORT: String(port),
    ADMIN_HOST: "127.0.0.1",
    WORKER_CONCURRENCY: "256",
    LOG_LEVEL: "info",
    ...env,
  });
  return startApp("worker", workerEnv, "/readyz", options);
}
