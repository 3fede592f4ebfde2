// npm's scripts run through tools/node/with-node.mjs, so `npm start` and `npm test` work when the
// machine's default Node is too old: it runs the command on a Node 24 it fetches once from the
// npm registry, or stops with one line saying what to install. Run here with an old Node when the
// machine has one (Debian's is 20).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const WRAPPER = join(ROOT, "tools/node/with-node.mjs");

/** A node on this machine older than the project supports, if there is one. */
function oldNode(): string | undefined {
  for (const candidate of ["/usr/bin/node", "/usr/local/bin/node"]) {
    try {
      const major = Number(
        execFileSync(candidate, ["-p", "process.versions.node.split('.')[0]"]).toString(),
      );
      if (major < 24) return candidate;
    } catch {
      // not there
    }
  }
  return undefined;
}
const old = oldNode();

describe.skipIf(old === undefined)("with-node.mjs on an old Node", () => {
  const env = (extra: Record<string, string>) => ({
    ...process.env,
    // npm and everything else resolve `node` to the old one first, as on a user's machine.
    PATH: `/usr/bin:${process.env["PATH"] ?? ""}`,
    ...extra,
  });

  it("runs the command on Node 24 from the registry (cached)", () => {
    const run = spawnSync(old ?? "", [WRAPPER, "node", "-p", "process.versions.node"], {
      env: env({ NODE24_PREFIX: join(homedir(), ".cache/imagesvc/node24") }),
      encoding: "utf8",
    });
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toMatch(/^24\./);
  }, 120_000);

  it("stops with one line naming the Node it needs when it cannot fetch it", () => {
    const prefix = mkdtempSync(join(tmpdir(), "no-node-"));
    try {
      const run = spawnSync(old ?? "", [WRAPPER, "node", "-v"], {
        env: env({
          NODE24_PREFIX: prefix,
          npm_config_registry: "http://127.0.0.1:9/",
          npm_config_fetch_retries: "0",
        }),
        encoding: "utf8",
      });
      expect(run.status).toBe(1);
      const lines = run.stderr.trim().split("\n");
      expect(lines.at(-1)).toMatch(
        /needs Node 24 or 26 and could not fetch it; install it \(for example `nvm install 24`/,
      );
      expect(lines).toHaveLength(2); // what it is doing, then why it stopped
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  }, 60_000);
});
