import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** `npm start`'s stack (tools/start/start.mjs, from the builds), as a user runs it. */
export interface NpmStartStack {
  readonly launcher: ChildProcess;
  /** Everything it printed on stdout so far. */
  output(): string;
  /** Ctrl-C, and its exit code once everything stopped. */
  stop(): Promise<number | null>;
}

/**
 * Runs tools/start/start.mjs (what `npm start` runs after building) with `env` and waits until
 * it prints its last line; rejects with what it printed if it does not within 30 s.
 */
export async function startNpmStart(env: Record<string, string>): Promise<NpmStartStack> {
  const launcher = spawn(process.execPath, ["tools/start/start.mjs"], {
    cwd: ROOT,
    env: { PATH: process.env["PATH"] ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  launcher.stdout.on("data", (c: Buffer) => (out += c.toString()));
  const stop = async () => {
    if (launcher.exitCode !== null || launcher.signalCode !== null) return launcher.exitCode;
    launcher.kill("SIGINT");
    const [code] = (await once(launcher, "exit")) as [number | null];
    return code;
  };
  for (let i = 0; i < 600 && !out.includes("Ctrl-C stops everything"); i++) {
    if (launcher.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!out.includes("Ctrl-C stops everything")) {
    await stop();
    throw new Error(`npm start's stack did not come up:\n${out}`);
  }
  return { launcher, output: () => out, stop };
}
