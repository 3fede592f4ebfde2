// Unary load from h2load (Debian's nghttp2-client): a C load generator speaking HTTP/2 with a
// body file, far cheaper per request than a Node client, so the server is what gets measured.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { quantile } from "./stats";

const run = promisify(execFile);

export interface UnaryLoad {
  readonly url: string;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  /** Connections × streams per connection = concurrent requests. */
  readonly connections: number;
  readonly streamsPerConnection: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
}

export interface UnaryResult {
  readonly requests: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** h2load's own CPU time (user + system), in seconds. */
  readonly clientCpuSeconds: number;
  readonly seconds: number;
  /** Every answered request, the warm-up's included: what the server's CPU was spent on. */
  readonly answeredWithWarmup: number;
}

export async function h2loadAvailable(): Promise<boolean> {
  try {
    await run("h2load", ["--version"]);
    return true;
  } catch {
    return false;
  }
}

export async function runUnary(load: UnaryLoad): Promise<UnaryResult> {
  const dir = mkdtempSync(join(tmpdir(), "imagesvc-bench-"));
  try {
    const bodyFile = join(dir, "body");
    const logFile = join(dir, "log");
    writeFileSync(bodyFile, load.body);
    const args = [
      "-t1",
      `-c${String(load.connections)}`,
      `-m${String(load.streamsPerConnection)}`,
      `-D${String(load.seconds)}`,
      `--warm-up-time=${String(load.warmupSeconds)}`,
      "-d",
      bodyFile,
      `--log-file=${logFile}`,
      ...Object.entries(load.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
      load.url,
    ];
    // `times` prints the shell's, then its children's, CPU: h2load's user and system time.
    const { stdout } = await run(
      "bash",
      ["-c", 'h2load "$@" || exit $?; times', "h2load", ...args],
      { maxBuffer: 16 << 20 },
    );
    const match =
      /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed/.exec(stdout);
    const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(stdout);
    if (match === null || finished === null)
      throw new Error(`cannot read h2load's output:\n${stdout}`);
    const cpu = stdout
      .trim()
      .split("\n")
      .at(-1)
      ?.split(/\s+/)
      .map((t) => {
        const m = /(\d+)m([\d.]+)s/.exec(t);
        return m === null ? 0 : Number(m[1]) * 60 + Number(m[2]);
      })
      .reduce((a, b) => a + b, 0);
    const seconds = Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1);
    // Rows are start µs, status, duration µs; leave out the warm-up's.
    const rows = readFileSync(logFile, "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split("\t").map(Number));
    const measuredFrom =
      rows.reduce((min, r) => Math.min(min, r[0] ?? Infinity), Infinity) + load.warmupSeconds * 1e6;
    const durations = rows
      .filter((r) => r[1] === 200 && (r[0] ?? 0) >= measuredFrom)
      .map((r) => (r[2] ?? 0) / 1000);
    return {
      requests: Number(match[1]),
      succeeded: Number(match[3]),
      failed: Number(match[4]),
      // h2load's own rate: requests in the measurement window, warm-up excluded.
      perSecond: Number(finished[3]),
      p50Ms: quantile(durations, 0.5),
      p99Ms: quantile(durations, 0.99),
      clientCpuSeconds: cpu ?? 0,
      seconds,
      answeredWithWarmup: rows.filter((r) => r[1] === 200).length,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
