// The README's "Try it" examples, taken from README.md itself and run in order against the stack
// `npm start` runs (tools/start/start.mjs from the builds), so they cannot drift from the code.
// The only change made to them is the ports (free ones instead of 8080 and 8085).
import { freePort, startNpmStart, useTestRedis, type NpmStartStack } from "@imagesvc/testing";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

/** The fenced blocks between the `section` markers (`<!-- try-it:start -->` …), in order. */
function examples(section = "try-it"): { lang: string; code: string }[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf(`<!-- ${section}:start -->`);
  const end = readme.indexOf(`<!-- ${section}:end -->`);
  if (start === -1 || end < start) throw new Error(`README.md has no ${section} section`);
  return [...readme.slice(start, end).matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({
    lang: m[1] ?? "",
    code: m[2] ?? "",
  }));
}

describe("the README's examples", () => {
  it("run verbatim, in order, against npm start's stack", async () => {
    const blocks = examples();
    expect(blocks.map((b) => b.lang)).toEqual(["sh", "sh", "sh", "sh", "sh", "js"]);
    const redis = await useTestRedis();
    const port = String(await freePort());
    const emulatorPort = String(await freePort());
    const onPort = (code: string) =>
      code
        .replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`)
        .replaceAll("127.0.0.1:8085", `127.0.0.1:${emulatorPort}`);
    let stack: NpmStartStack | undefined;
    const exampleJs = join(ROOT, "dist", "readme-example", "example.mjs");
    try {
      stack = await startNpmStart({
        REDIS_URL: redis.url,
        PORT: port,
        EMULATOR_PORT: emulatorPort,
        EMULATOR_OPERATION_DURATION_MS: "1500",
      });
      const out = stack.output();
      expect(out).toContain(`gateway ready: http://127.0.0.1:${port}`);

      // The shell examples, as a user pastes them into one terminal: one bash, in order.
      const shell = blocks.filter((b) => b.lang === "sh").map((b) => onPort(b.code));
      const run = spawnSync("bash", ["-eo", "pipefail", "-c", shell.join("\n")], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 120_000,
      });
      const said = `${run.stdout}\n${run.stderr}`;
      expect(run.status, said).toBe(0);
      expect(run.stderr).toMatch(/Created \[.*\/images\/cli-1\]/); // the CLI followed it to DONE
      expect(run.stdout).toMatch(/created operation-\d+-[0-9a-f]{32}/);
      expect(run.stdout).toMatch(/"status":"DONE"/); // WaitOperation, and the watch's last
      expect(run.stdout).toMatch(/"items":\[/); // ListOperations
      // Readable as printed: each answer on a line of its own, and no end-of-stream `{}`.
      expect(run.stdout).not.toMatch(/\}\{/);
      expect(run.stdout.split("\n")).not.toContain("{}");
      expect(run.stdout).toMatch(
        /"code":"failed_precondition","message":"operation \S+ is already DONE/,
      ); // CancelOperation
      expect(run.stdout).toMatch(/"name":\s*"operation-/); // buf curl's CreateImage
      // The Secure Boot key and the KMS-protected source: DONE without an error.
      const secure = run.stdout
        .split("\n")
        .find((l) => l.includes("/images/secure-1") && l.includes('"status":"DONE"'));
      expect(secure, said).toBeDefined();
      expect(secure).not.toContain('"error"');
      expect(run.stdout).toContain("computeimages.v1.ImageService/WatchOperation"); // --list-methods
      expect(run.stdout).not.toMatch(/already_exists|ALREADY_EXISTS/);
      expect(run.stderr).toMatch(/Created \[.*\/images\/imported-1\]/); // the disk file, imported

      // The grpc-js example, saved as a .mjs file in the repository and run with node: the
      // Node the tests run on, and the machine's own (Node 20 here) when it is another.
      const js = blocks.find((b) => b.lang === "js");
      mkdirSync(join(ROOT, "dist", "readme-example"), { recursive: true });
      const nodes = [...new Set([process.execPath, "/usr/bin/node"])].filter((n) => existsSync(n));
      for (const [i, nodeBin] of nodes.entries()) {
        // A fresh image name per run: the same name twice would be ALREADY_EXISTS.
        writeFileSync(exampleJs, onPort(js?.code ?? "").replaceAll("grpc-1", `grpc-${i + 1}`));
        const node = spawnSync(nodeBin, [exampleJs], {
          cwd: ROOT,
          encoding: "utf8",
          timeout: 60_000,
        });
        const version = spawnSync(nodeBin, ["--version"], { encoding: "utf8" }).stdout.trim();
        expect(node.status, `${version}: ${node.stderr}`).toBe(0);
        // console.log colours numbers when FORCE_COLOR is set (CI sets it); the words are the same.
        const printed = stripVTControlCharacters(node.stdout).trim();
        expect(printed.split("\n").at(-1), version).toMatch(/^DONE 100 \d+$/);
      }

      // "Get notified", locally: the receiver prints RUNNING and DONE for the operation.
      const [notify] = examples("notify-example");
      const hooked = spawnSync("bash", ["-eo", "pipefail", "-c", notify?.code ?? "exit 1"], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 60_000,
        env: { ...process.env, IMAGES_GATEWAY: `http://127.0.0.1:${port}` },
      });
      const heard = `${hooked.stdout}\n${hooked.stderr}`;
      expect(hooked.status, heard).toBe(0);
      expect(hooked.stdout).toMatch(/^operation-\S+:RUNNING operation\.running RUNNING$/m);
      expect(hooked.stdout).toMatch(/^operation-\S+:DONE operation\.done DONE$/m);

      // "Release an image": promote, roll back, a scheduled deprecation, retention, a share.
      const [release] = examples("release-example");
      const released = spawnSync(
        "bash",
        ["-eo", "pipefail", "-c", onPort(release?.code ?? "exit 1")],
        {
          cwd: ROOT,
          encoding: "utf8",
          timeout: 90_000,
        },
      );
      const told = `${released.stdout}\n${released.stderr}`;
      expect(released.status, told).toBe(0);
      expect(released.stderr).toContain("Done: rel resolves to rel-2");
      expect(released.stderr).toContain("Done: rel resolves to rel-3; rel-2 is DEPRECATED");
      expect(released.stderr).toMatch(
        /Done: rel-2 is DEPRECATED; scheduled: OBSOLETE at \S+, DELETED at/,
      );
      const tables = released.stdout.split("rel resolves to ").slice(1);
      expect(tables).toHaveLength(2);
      // After the schedule's first step: rel-2 OBSOLETE, by the service, its deletion still planned.
      expect(tables[0]).toMatch(/^rel-3\n/);
      expect(tables[0]).toMatch(/rel-2 +READY +OBSOLETE .*DELETED at/);
      // After the retention pass: rel-1 deleted, rel-3 and rel-2 kept.
      expect(tables[1]).not.toContain("rel-1");
      expect(tables[1]).toMatch(/rel-3 +READY +ACTIVE/);
      expect(tables[1]).toMatch(/retention: keep newest 2/);
      expect(released.stderr).toContain("holds roles/compute.imageUser on rel-3");
    } finally {
      rmSync(join(ROOT, "dist", "readme-example"), { recursive: true, force: true });
      await stack?.stop();
      await redis.cleanup();
    }
  }, 180_000);
});
