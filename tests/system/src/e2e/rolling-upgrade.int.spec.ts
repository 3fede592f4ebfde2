// A rolling upgrade: the previous release's built gateway and worker run beside this tree's, on
// one Redis and one emulator, as they do while a rollout replaces pods one by one. Each gateway
// takes creates, each operation is watched through the other gateway, and either worker may run
// any job. This release writes a field the previous one does not know (Compute's errorDetails),
// and every watcher still sees every operation to DONE: nothing answers INTERNAL, nothing is lost.
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ImageService, Operation_Status, type Operation } from "@imagesvc/proto";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { archiveOf, drain, startStack, type Stack, uploadObject } from "./stack.test-helper";

/**
 * The previous release: the last landed commit before this one changed what is written (its
 * jobs carry the whole request; this release's point at the record, which also keeps the
 * webhook in a field of its own). Move it forward at each release.
 */
const PREVIOUS_RELEASE = "8c0db4ef31749ff5584b4b304ce244335acd42b2";
const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const git = (...args: string[]) =>
  execFileSync("git", args, { cwd: ROOT, stdio: "pipe" }).toString();
const available = (() => {
  try {
    git("cat-file", "-e", `${PREVIOUS_RELEASE}^{commit}`);
    return true;
  } catch {
    return false;
  }
})();

let previous: string;
let stack: Stack;

/**
 * The previous release checked out beside this tree and built with its own build script: its own
 * workspace libs (so the bundles hold its code), this tree's npm packages (the lockfile is the
 * same).
 */
function buildPrevious(): string {
  const dir = mkdtempSync(join(tmpdir(), "imagesvc-previous-"));
  git("worktree", "add", "--detach", "--force", dir, PREVIOUS_RELEASE);
  const modules = join(dir, "node_modules");
  mkdirSync(join(modules, "@imagesvc"), { recursive: true });
  for (const entry of readdirSync(join(ROOT, "node_modules"))) {
    if (entry === "@imagesvc" || entry === ".bin") continue;
    symlinkSync(join(ROOT, "node_modules", entry), join(modules, entry));
  }
  symlinkSync(join(ROOT, "node_modules", ".bin"), join(modules, ".bin"));
  for (const group of ["apps", "libs", "tools"]) {
    for (const name of readdirSync(join(dir, group))) {
      const manifest = join(dir, group, name, "package.json");
      if (!existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { name: string };
      symlinkSync(join(dir, group, name), join(modules, pkg.name));
      const nested = join(ROOT, group, name, "node_modules");
      if (existsSync(nested)) symlinkSync(nested, join(dir, group, name, "node_modules"));
    }
  }
  for (const app of ["apps/gateway", "apps/worker"])
    execFileSync(process.execPath, ["tools/build-app.mjs", app], { cwd: dir, stdio: "pipe" });
  return dir;
}

beforeAll(async () => {
  if (!available) return;
  previous = buildPrevious();
  stack = await startStack({ emulator: { operationDurationMs: 600 } });
}, 120_000);
afterAll(async () => {
  if (!available) return;
  await stack.close();
  git("worktree", "remove", "--force", previous);
});

const clientOf = (url: string): Client<typeof ImageService> =>
  createClient(ImageService, createConnectTransport({ baseUrl: url, httpVersion: "2" }));

describe.skipIf(!available)("a rolling upgrade from the previous release", () => {
  it("serves every operation to DONE with old and new gateways and workers side by side", async () => {
    const previousMain = (app: string) => join(previous, "dist/apps", app, "main.js");
    // A bad archive, so Compute's own check fails some operations with errorDetails (PREFLIGHT
    // off on both gateways: the archive must reach Compute).
    await uploadObject(stack.emulator, "named.tar.gz", archiveOf("tmp/output.img"));
    const env = { PREFLIGHT: "off" };
    // This release seals keys the previous one has no field for (an RSA-wrapped key): such a
    // request is stored as version 4, which the old worker and sweeper refuse to run.
    const keyFile = join(mkdtempSync(join(tmpdir(), "rolling-secrets-")), "secrets.key");
    writeFileSync(keyFile, randomBytes(32).toString("base64"));
    const secrets = { SECRETS_KEY_FILE: keyFile };
    const oldGateway = await stack.spawnGateway(env, undefined, previousMain("gateway"));
    const newGateway = await stack.spawnGateway({ ...env, ...secrets });
    // A previous release's worker refuses this release's jobs (they point at the record) and
    // fails them; a sweeper queues them again, the old one from the record's request, so any
    // worker runs them. Sweeps are quick here so that the rollout's detour takes seconds.
    const sweeps = { SWEEP_INTERVAL_MS: "300", SWEEP_GRACE_MS: "500" };
    const oldWorker = await stack.startWorker({ ...sweeps, ...secrets }, previousMain("worker"));
    const newWorker = await stack.startWorker({ ...sweeps, ...secrets });
    try {
      const gateways = [clientOf(oldGateway.url), clientOf(newGateway.url)] as const;
      const created: { op: Operation; by: number }[] = [];
      for (let i = 0; i < 16; i++) {
        const by = i % 2;
        const bad = i % 4 < 2;
        const op = await (by === 0 ? gateways[0] : gateways[1]).createImage({
          project: "my-project",
          image: {
            name: `rolling-${String(i)}`,
            rawDisk: {
              source: `https://storage.googleapis.com/my-bucket/${bad ? "named" : "web"}.tar.gz`,
            },
          },
        });
        created.push({ op, by });
      }
      const rsaKey = randomBytes(256).toString("base64");
      const wrapped = await gateways[1].createImage({
        project: "my-project",
        image: {
          name: "rolling-rsa",
          rawDisk: { source: "https://storage.googleapis.com/my-bucket/web.tar.gz" },
          imageEncryptionKey: { rsaEncryptedKey: rsaKey },
        },
      });
      // Each watched to DONE through the other release's gateway.
      const finals = await Promise.all(
        created.map(async ({ op, by }) => {
          const versions = await drain(
            gateways[by === 0 ? 1 : 0].watchOperation({
              project: "my-project",
              operation: op.name,
            }),
          );
          return versions.at(-1);
        }),
      );
      for (const [i, last] of finals.entries()) {
        expect(last?.status, `rolling-${String(i)}`).toBe(Operation_Status.DONE);
        expect(last?.error?.errors[0]?.code).toBe(i % 4 < 2 ? "INVALID_IMAGE_TAR" : undefined);
      }
      // The version-4 request ran only where its key could be opened: Compute got the key.
      const rsaDone = await drain(
        gateways[0].watchOperation({ project: "my-project", operation: wrapped.name }),
      );
      expect(rsaDone.at(-1)?.status).toBe(Operation_Status.DONE);
      expect(rsaDone.at(-1)?.error).toBeUndefined();
      const rsaImage = stack.emulator.admin.state().images.find((i) => i.name === "rolling-rsa");
      expect(rsaImage?.["imageEncryptionKey"]).toEqual({
        sha256: createHash("sha256").update(Buffer.from(rsaKey, "base64")).digest("base64"),
      });
      // Both releases read the records the other wrote, details and all.
      for (const { op } of created) {
        for (const gateway of gateways) {
          const got = await gateway.getOperation({ project: "my-project", operation: op.name });
          expect(got.status).toBe(Operation_Status.DONE);
        }
      }
      // The old worker goes (the rollout ends); a new one runs the next failure, whose record
      // holds errorDetails, a field the old gateway does not know. It still answers it, and
      // its watchers see DONE.
      await oldWorker.stop();
      const late = await gateways[0].createImage({
        project: "my-project",
        image: {
          name: "rolling-late",
          rawDisk: { source: "https://storage.googleapis.com/my-bucket/named.tar.gz" },
        },
      });
      const watched = await drain(
        gateways[0].watchOperation({ project: "my-project", operation: late.name }),
      );
      expect(watched.at(-1)?.error?.errors[0]?.code).toBe("INVALID_IMAGE_TAR");
      const details = await gateways[1].getOperation({
        project: "my-project",
        operation: late.name,
      });
      expect(details.error?.errors[0]?.errorDetails[0]?.errorInfo?.reason).toBe(
        "INVALID_IMAGE_TAR",
      );
      // One insert per request id: nothing happened twice.
      expect(Object.values(stack.emulator.admin.state().insertCalls).every((n) => n === 1)).toBe(
        true,
      );
    } catch (e) {
      if (e instanceof ConnectError && e.code === Code.Internal)
        throw new Error(`a gateway answered INTERNAL during the rollout: ${e.message}`);
      throw e;
    } finally {
      await oldGateway.app.stop();
      await newGateway.app.stop();
      await oldWorker.stop();
      await newWorker.stop();
    }
  }, 120_000);
});
