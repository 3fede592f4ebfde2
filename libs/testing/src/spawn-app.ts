import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

export interface SpawnAppOptions {
  /** Path of a built `dist/apps/<app>/main.js`. */
  readonly main: string;
  /** The environment, on top of PATH only: apps are configured by env alone. */
  readonly env?: Record<string, string>;
  /** The `msg` of the JSON log line that says the app is ready. */
  readonly ready: string;
  /** How long to wait for it, in ms. Default: 15000. */
  readonly timeoutMs?: number;
}

export interface SpawnedApp {
  readonly child: ChildProcess;
  /** Every JSON log line so far. */
  readonly lines: Record<string, unknown>[];
  /** The ready line. */
  readonly readyLine: Record<string, unknown>;
  /** SIGTERM (or `signal`), and wait for the process to end with its output read; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs a built app as a child process, exactly as its container does (`node main.js`, env only),
 * and resolves once it logs its ready line. Rejects with its output if it exits first.
 */
export async function spawnApp(options: SpawnAppOptions): Promise<SpawnedApp> {
  const child = spawn(process.execPath, [options.main], {
    env: { PATH: process.env["PATH"] ?? "", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const readyLine = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new Error(
          `${options.main} was not ready within ${options.timeoutMs ?? 15_000} ms: ${JSON.stringify(lines)} ${stderr}`,
        ),
      );
    }, options.timeoutMs ?? 15_000);
    createInterface({ input: child.stdout }).on("line", (text) => {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { msg: text };
      }
      lines.push(line);
      if (line["msg"] === options.ready) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${options.main} exited with ${String(code)} before it was ready: ${JSON.stringify(lines)} ${stderr}`,
        ),
      );
    });
  });
  return {
    child,
    lines,
    readyLine,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      // "close" comes after stdout is drained: every log line has been read by then.
      const [code] = (await once(child, "close")) as [number | null];
      return code;
    },
  };
}
