// `images import` end to end against `npm start`'s stack (tools/start/start.mjs from the builds):
// disks made with qemu-img become READY images; an upload killed halfway resumes when the same
// command runs again; bad archives made by GNU tar are refused in seconds; a missing tool is
// named with its Debian package. Uses the environment start.mjs prints, verbatim.
import {
  freePort,
  startNpmStart,
  useTestRedis,
  type NpmStartStack,
  type TestRedis,
} from "@imagesvc/testing";
import { execFile, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CLI = join(ROOT, "dist/apps/cli/main.js");
const MIB = 1024 * 1024;
let redis: TestRedis;
let stack: NpmStartStack;
let startEnv: Record<string, string>;
let emulatorUrl: string;
const dir = mkdtempSync(join(tmpdir(), "images-import-"));
const cache = join(dir, "cache");

/** A sparse raw disk `name` of `size` (truncate's units) in the test's folder: the MBR, then `dataBytes` of random data. */
/**
 * A raw disk of `size` with an MBR and `dataBytes` of random data after it; `base64` makes the
 * data base64 text, which deflate works hard on and shrinks by a quarter (random bytes it stores
 * as they are, at the speed of a copy).
 */
function rawDisk(name: string, size: string, dataBytes: number, base64 = false): string {
  const path = join(dir, name);
  execFileSync("truncate", ["-s", size, path]);
  execFileSync("dd", [`if=${join(dir, "mbr")}`, `of=${path}`, "conv=notrunc", "status=none"]);
  const data = base64
    ? `head -c ${(dataBytes / 4) * 3} /dev/urandom | base64 -w 0`
    : `head -c ${dataBytes} /dev/urandom`;
  execFileSync("sh", [
    "-c",
    `${data} | dd of=${path} bs=1M seek=1 conv=notrunc iflag=fullblock status=none`,
  ]);
  return path;
}

beforeAll(async () => {
  redis = await useTestRedis();
  const port = String(await freePort());
  stack = await startNpmStart({
    REDIS_URL: redis.url,
    PORT: port,
    EMULATOR_PORT: String(await freePort()),
    EMULATOR_OPERATION_DURATION_MS: "800",
    EMULATOR_WAIT_CAP_MS: "200",
  });
  const out = stack.output();
  // The environment start.mjs tells users to export, taken from its output.
  const gateway = /export IMAGES_GATEWAY=(\S+)/.exec(out)?.[1];
  const storageLine = /export (IMAGES_STORAGE_ENDPOINT=.*)/.exec(out)?.[1];
  if (gateway === undefined || storageLine === undefined)
    throw new Error(`npm start printed no exports:\n${out}`);
  startEnv = { IMAGES_GATEWAY: gateway };
  for (const pair of storageLine.trim().split(/\s+/)) {
    const eq = pair.indexOf("=");
    startEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  emulatorUrl = startEnv["IMAGES_STORAGE_ENDPOINT"] ?? "";

  // A disk with an MBR and 3 MiB of incompressible data, as raw, qcow2 and VMDK.
  const sector = Buffer.alloc(512);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  writeFileSync(join(dir, "mbr"), sector);
  const raw = rawDisk("src.raw", "1500M", 3 * MIB);
  for (const [format, ext] of [
    ["qcow2", "qcow2"],
    ["vmdk", "vmdk"],
    ["vpc", "vhd"],
    ["vhdx", "vhdx"],
  ])
    execFileSync("qemu-img", ["convert", "-O", format ?? "", raw, join(dir, `web.${ext ?? ""}`)]);
  // A raw disk of exactly 1 GiB: archived as it is, renamed disk.raw in the archive, no copy.
  rawDisk("web.img", "1G", 3 * MIB);
}, 60_000);

afterAll(async () => {
  await stack.stop();
  await redis.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}
function images(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env["PATH"] ?? "", XDG_CACHE_HOME: cache, ...startEnv, ...env } },
      (error, stdout, stderr) => {
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : -1,
          stdout,
          stderr,
          ms: performance.now() - started,
        });
      },
    );
  });
}

const admin = async (path: string, init?: RequestInit) =>
  (await (await fetch(`${emulatorUrl}/admin/${path}`, init)).json()) as Record<string, unknown>;
const state = () =>
  admin("state") as Promise<{
    images: { name: string; status: string; diskSizeGb?: string }[];
    objects: { name: string; size: string }[];
    uploads: { open: { name: string; received: number }[]; bytesReceived: number };
    insertCalls: Record<string, number>;
  }>;
const imports = () =>
  existsSync(join(cache, "imagesvc/imports")) ? readdirSync(join(cache, "imagesvc/imports")) : [];

/**
 * Runs an import with Cloud Storage slowed down (150 ms per 256 KiB chunk), and interrupts it
 * with `signal` once its progress reaches `at` (a pattern of the progress line, or a test of
 * what it printed so far); resolves with its exit code and what it printed. The slow-down ends
 * with it.
 */
async function interruptedImport(
  args: string[],
  at: RegExp | ((said: string) => Promise<boolean>),
  signal: NodeJS.Signals,
): Promise<{ code: number | null; err: string }> {
  await admin("faults", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ route: "storage.put", effect: "latency", latencyMs: 150 }),
  });
  const run = spawn(process.execPath, [CLI, ...args, "--chunk-size", "262144"], {
    env: { PATH: process.env["PATH"] ?? "", XDG_CACHE_HOME: cache, ...startEnv },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  run.stderr.on("data", (c: Buffer) => (err += c.toString()));
  // Listened for from the start: a run that ends before `at` must not leave this waiting.
  const exited = once(run, "exit") as Promise<[number | null]>;
  const reached = typeof at === "function" ? at : (said: string) => Promise.resolve(at.test(said));
  for (let i = 0; i < 600 && !(await reached(err)) && run.exitCode === null; i++)
    await new Promise((r) => setTimeout(r, 20));
  run.kill(signal);
  const [code] = await exited;
  await admin("faults", { method: "DELETE" });
  return { code, err };
}

/** Runs the same import again: it resumes, the image `name` is READY, and nothing is left. */
async function resumedToReady(args: string[], name: string): Promise<Run> {
  const again = await images(args);
  expect(again.stderr).toContain("Resuming the import");
  expect(again.code).toBe(0);
  expect((await state()).images.find((i) => i.name === name)).toMatchObject({ status: "READY" });
  expect(imports()).toEqual([]);
  return again;
}

/** `images import FILE` into my-project's my-bucket as the image `name`. */
const importArgs = (file: string, name: string) => [
  "import",
  file,
  "--project",
  "my-project",
  "--bucket",
  "my-bucket",
  "--name",
  name,
];

describe("images import", () => {
  it.each([
    ["qcow2", "qcow2", "1.5 GiB", "2"],
    ["vmdk", "vmdk", "1.5 GiB", "2"],
    ["vhd", "vpc", "1.5 GiB", "2"],
    ["vhdx", "vhdx", "1.5 GiB", "2"],
    ["img", "raw", "1.0 GiB", "1"],
  ])(
    "turns a .%s (%s) into a READY image of whole GiB, and leaves no files behind",
    async (ext, format, shown, gib) => {
      const run = await images([
        "import",
        join(dir, `web.${ext}`),
        "--project",
        "my-project",
        "--bucket",
        "my-bucket",
        "--name",
        `web-${ext}`,
        "--family",
        "web",
      ]);
      expect(run.stderr).toContain(`(${format}, ${shown})`);
      // Every phase shows its progress, a line per 10% off a TTY, in bytes of the disk's data.
      if (format !== "raw")
        expect(run.stderr).toMatch(/converted [\d.]+ \w+ of [\d.]+ \w+ \(100%\)/);
      else expect(run.stderr).not.toMatch(/converted/);
      expect(run.stderr).toMatch(/archived [\d.]+ \w+ of [\d.]+ \w+ \(100%\)/);
      expect(run.stderr).toMatch(/uploaded 3\.0 MiB of 3\.0 MiB \(100%\)/);
      expect(run.stderr).toContain(`Created [`);
      expect(run.code).toBe(0);
      const image = (await state()).images.find((i) => i.name === `web-${ext}`);
      expect(image).toMatchObject({ status: "READY", diskSizeGb: gib });
      expect(imports()).toEqual([]);
    },
  );

  it("resumes an upload killed halfway, where it stopped, and creates one image", async () => {
    const args = importArgs(join(dir, "web.qcow2"), "resumed");
    const { err } = await interruptedImport(args, /uploaded .* \((40|50|60)%\)/, "SIGKILL");
    expect(err).not.toMatch(/uploaded .* \(100%\)/);
    expect(imports()).toHaveLength(1); // the archive and the session, kept to resume

    const second = await images(args); // the same command (the chunk size is a test knob)
    expect(second.stderr).toContain("Resuming the import");
    const firstShown = /uploaded [\d.]+ \w+ of 3\.0 MiB \((\d+)%\)/.exec(second.stderr)?.[1];
    expect(Number(firstShown)).toBeGreaterThanOrEqual(30); // not from the start
    expect(second.code).toBe(0);
    const s = await state();
    expect(s.images.filter((i) => i.name === "resumed")).toMatchObject([{ status: "READY" }]);
    expect(Object.values(s.insertCalls).every((n) => n === 1)).toBe(true);
    expect(imports()).toEqual([]);
  });

  it("uploads an input .tar.gz where it is, never a copy, and resumes it after Ctrl-C", async () => {
    mkdirSync(join(dir, "ready"), { recursive: true });
    execFileSync("qemu-img", [
      "convert",
      "-O",
      "raw",
      join(dir, "web.qcow2"),
      join(dir, "ready/disk.raw"),
    ]);
    execFileSync("qemu-img", ["resize", "-q", "-f", "raw", join(dir, "ready/disk.raw"), "2G"]);
    execFileSync("tar", [
      "--format=oldgnu",
      "-Sczf",
      join(dir, "ready.tar.gz"),
      "-C",
      join(dir, "ready"),
      "disk.raw",
    ]);
    const args = importArgs(join(dir, "ready.tar.gz"), "in-place");
    const { code, err } = await interruptedImport(args, /uploaded .* \((20|30|40)%\)/, "SIGINT");
    expect(code).toBe(130);
    expect(err).toContain("uploading it where it is");
    const [kept] = imports();
    // The session only: the archive is the user's own file.
    expect(readdirSync(join(cache, "imagesvc/imports", kept ?? ""))).toEqual(["state.json"]);
    await resumedToReady(args, "in-place");
  });

  it("on Ctrl-C mid-upload keeps only the archive and session that resume it, and says so", async () => {
    const args = importArgs(join(dir, "web.vmdk"), "interrupted");
    const { code, err } = await interruptedImport(args, /uploaded .* \((20|30|40)%\)/, "SIGINT");
    expect(code).toBe(130);
    expect(err).toMatch(
      /Interrupted\. Run the same command again to resume the upload where it stopped/,
    );
    const [kept] = imports();
    expect(readdirSync(join(cache, "imagesvc/imports", kept ?? "")).sort()).toEqual([
      "disk.tar.gz",
      "state.json",
    ]);
    const again = await images(args);
    expect(again.code).toBe(0);
    expect(imports()).toEqual([]);
  });

  /** A disk with 64 MiB of data: long enough to compress that an interrupt lands inside a phase. */
  // Slow enough to archive (a second or so) that a test can stop it while it uploads.
  const bigDisk = () => {
    const big = join(dir, "big.qcow2");
    if (!existsSync(big)) {
      const raw = rawDisk("big.raw", "1G", 64 * MIB, true);
      execFileSync("qemu-img", ["convert", "-O", "qcow2", raw, big]);
      rmSync(raw);
    }
    return big;
  };

  it("on Ctrl-C while it converts, stops the tools and leaves nothing behind", async () => {
    const args = importArgs(bigDisk(), "stopped-early");
    const { code, err } = await interruptedImport(args, /^converted /m, "SIGINT");
    expect(code).toBe(130);
    expect(err).not.toMatch(/^(archived|uploaded) /m);
    expect(imports()).toEqual([]);
    expect((await state()).objects.map((o) => o.name)).not.toContain("stopped-early.tar.gz");
  });

  /** Still archiving (no archive line at 100%), and the emulator holds some of `object` already. */
  const uploadingWhileArchiving = (object: string) => async (said: string) =>
    !/^archived .*\(100%\)/m.test(said) &&
    (await state()).uploads.open.some((u) => u.name === object && u.received > 0);

  it("uploads while it archives; Ctrl-C then keeps the session and what was sent, and a rerun rebuilds the archive and sends only the rest", async () => {
    await admin("reset", { method: "POST" });
    const args = importArgs(bigDisk(), "overlapped");
    const first = await interruptedImport(
      args,
      uploadingWhileArchiving("overlapped.tar.gz"),
      "SIGINT",
    );
    expect(first.code).toBe(130);
    expect(first.err).toContain("the disk is converted and archived again first");
    const [kept] = imports();
    // The raw disk goes (it is made again); the archive so far and the session stay.
    expect(readdirSync(join(cache, "imagesvc/imports", kept ?? "")).sort()).toEqual([
      "disk.tar.gz",
      "state.json",
    ]);
    const held = (await state()).uploads.open.find((u) => u.name === "overlapped.tar.gz");
    expect(held?.received).toBeGreaterThan(0);

    const second = await images(args);
    expect(second.stderr).toContain("Resuming the import");
    expect(second.stderr).not.toContain("starts over");
    expect(second.code).toBe(0);
    const after = await state();
    expect(after.images.find((i) => i.name === "overlapped")).toMatchObject({ status: "READY" });
    const object = after.objects.find((o) => o.name === "overlapped.tar.gz");
    // What the first run had sent was not sent again: at most the chunk it was cut off in.
    expect(after.uploads.bytesReceived).toBeLessThanOrEqual(Number(object?.size) + 256 * 1024);
    expect(imports()).toEqual([]);
  });

  it("starts the upload over when the rebuilt archive differs from what was sent", async () => {
    await admin("reset", { method: "POST" });
    const args = importArgs(bigDisk(), "differs");
    await interruptedImport(args, uploadingWhileArchiving("differs.tar.gz"), "SIGINT");
    const [kept] = imports();
    // As if the first run's archive came from another tar: its first bytes differ.
    const partial = join(cache, "imagesvc/imports", kept ?? "", "disk.tar.gz");
    const bytes = readFileSync(partial);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    writeFileSync(partial, bytes);

    const second = await resumedToReady(args, "differs");
    expect(second.stderr).toContain("differs from the one being uploaded");
  });

  it("refuses bad archives made by GNU tar in the CreateImage answer, before anything is stored", async () => {
    mkdirSync(join(dir, "bad/tmp"), { recursive: true });
    execFileSync("truncate", ["-s", "1G", join(dir, "bad/disk.raw")]);
    execFileSync("dd", [
      `if=${join(dir, "mbr")}`,
      `of=${join(dir, "bad/disk.raw")}`,
      "conv=notrunc",
      "status=none",
    ]);
    execFileSync("cp", [
      "--sparse=always",
      join(dir, "bad/disk.raw"),
      join(dir, "bad/tmp/output.img"),
    ]);
    const tar = (out: string, ...args: string[]) =>
      execFileSync("tar", [
        ...args,
        "-Sczf",
        join(dir, "bad", out),
        "-C",
        join(dir, "bad"),
        args.includes("--format=posix") ? "disk.raw" : "tmp/output.img",
      ]);
    tar("posix.tar.gz", "--format=posix");
    tar("named.tar.gz", "--format=oldgnu");
    for (const [file, expected] of [
      ["posix.tar.gz", /Supported formats are: GNU and OLDGNU/],
      ["named.tar.gz", /named 'tmp\/output\.img'\. It should be named 'disk\.raw'/],
    ] as const) {
      // Uploaded as it is, with a token from the metadata server, as any client would.
      const object = `bad/${file}`;
      const token = (await (
        await fetch(`${emulatorUrl}/computeMetadata/v1/instance/service-accounts/default/token`, {
          headers: { "metadata-flavor": "Google" },
        })
      ).json()) as { access_token: string };
      const put = await fetch(
        `${emulatorUrl}/upload/storage/v1/b/my-bucket/o?uploadType=media&name=${encodeURIComponent(object)}`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${token.access_token}` },
          body: readFileSync(join(dir, "bad", file)),
        },
      );
      expect(put.status).toBe(200);
      const run = await images([
        "create",
        `bad-${file.split(".")[0] ?? ""}`,
        "--project",
        "my-project",
        "--source-uri",
        `https://storage.googleapis.com/my-bucket/${object}`,
      ]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/failed the pre-flight check/);
      expect(run.stderr).toMatch(expected);
      expect(run.ms).toBeLessThan(3000); // a whole CLI process, start to exit
      process.stdout.write(
        `PREFLIGHT via the CLI, ${file}: refused, CLI exited in ${run.ms.toFixed(0)} ms\n`,
      );
    }
    // A ready archive given to import is checked before a byte goes up.
    const local = await images(importArgs(join(dir, "bad/named.tar.gz"), "local-check"));
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(/It should be named 'disk\.raw'/);
    expect((await state()).objects.map((o) => o.name)).not.toContain("local-check.tar.gz");
    expect(imports()).toEqual([]);
  });

  it("checks the disk right after converting it: one without a partition table is never compressed or uploaded", async () => {
    const bare = join(dir, "bare.qcow2");
    const blank = join(dir, "bare.raw");
    execFileSync("truncate", ["-s", "1G", blank]);
    execFileSync("qemu-img", ["convert", "-O", "qcow2", blank, bare]);
    const run = await images(importArgs(bare, "bare"));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/the disk fails "disk\.raw has an MBR or GPT partition table"/);
    expect(run.stderr).toMatch(/converted/);
    expect(run.stderr).not.toMatch(/archived|uploaded/);
    expect((await state()).objects.map((o) => o.name)).not.toContain("bare.tar.gz");
    expect(imports()).toEqual([]);
  });

  it("with --json, prints each phase's progress as NDJSON events, then the operation", async () => {
    const run = await images([...importArgs(join(dir, "web.qcow2"), "web-json"), "--json"]);
    expect(run.code).toBe(0);
    const lines = run.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const events = lines.filter((l) => l["event"] === "progress");
    for (const phase of ["convert", "archive", "upload"]) {
      const mine = events.filter((e) => e["phase"] === phase);
      expect(mine.length, phase).toBeGreaterThan(0);
      expect(mine.at(-1), phase).toMatchObject({ percent: 100 });
      const percents = mine.map((e) => Number(e["percent"]));
      expect(percents, phase).toEqual([...percents].sort((a, b) => a - b));
    }
    // Phases in order, and the operation after them.
    const order = events.map((e) => e["phase"]);
    expect(order.lastIndexOf("convert")).toBeLessThan(order.indexOf("archive"));
    expect(order.lastIndexOf("archive")).toBeLessThan(order.indexOf("upload"));
    expect(lines.at(-1)).toMatchObject({ status: "DONE" });
    expect(run.stderr).toBe("");
  });

  it("names the Debian package of a missing tool, and exits 2", async () => {
    const bin = join(dir, "bin");
    mkdirSync(bin, { recursive: true });
    symlinkSync(process.execPath, join(bin, "node"));
    const noQemu = await images(
      ["import", join(dir, "web.vmdk"), "--project", "my-project", "--bucket", "my-bucket"],
      { PATH: bin },
    );
    expect(noQemu.code).toBe(2);
    expect(noQemu.stderr).toMatch(/qemu-img is not installed.*apt-get install qemu-utils/);
    const qemu = execFileSync("sh", ["-c", "command -v qemu-img"]).toString().trim();
    symlinkSync(qemu, join(bin, "qemu-img"));
    const noTar = await images(
      ["import", join(dir, "web.vmdk"), "--project", "my-project", "--bucket", "my-bucket"],
      { PATH: bin },
    );
    expect(noTar.code).toBe(2);
    expect(noTar.stderr).toMatch(/GNU tar is needed.*apt-get install tar/);
    expect(imports()).toEqual([]);
  });

  // A small filesystem for the cache needs a tmpfs mount (root, as CI runs); elsewhere it is skipped.
  const tiny = join(tmpdir(), `imagesvc-tiny-${String(process.pid)}`);
  const canMount = (() => {
    try {
      mkdirSync(tiny, { recursive: true });
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", tiny], { stdio: "ignore" });
      execFileSync("umount", [tiny], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(!canMount)(
    "says how much scratch space it needs, and refuses with the figures when the cache's filesystem lacks it",
    async () => {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", tiny]);
      try {
        const run = await images(importArgs(join(dir, "web.qcow2"), "no-room"), {
          XDG_CACHE_HOME: tiny,
        });
        expect(run.code).toBe(2);
        expect(run.stderr).toMatch(
          /the import needs up to [\d.]+ MiB of scratch space in .* and its filesystem has [\d.]+ \w+ free; free some, or set XDG_CACHE_HOME/,
        );
        expect((await state()).images.map((i) => i.name)).not.toContain("no-room");
      } finally {
        execFileSync("umount", [tiny]);
      }
      const roomy = await images(importArgs(join(dir, "web.qcow2"), "room"));
      expect(roomy.stderr).toMatch(/This import needs up to [\d.]+ MiB of scratch space/);
      expect(roomy.code).toBe(0);
    },
  );

  it("imports an OVA's boot disk, or with --all-disks each disk, names with spaces and all", async () => {
    const ova = join(dir, "ova");
    mkdirSync(ova, { recursive: true });
    for (const disk of ["Boot Disk.vmdk", "Data Disk.vmdk"])
      execFileSync("qemu-img", ["convert", "-O", "vmdk", join(dir, "web.qcow2"), join(ova, disk)]);
    writeFileSync(
      join(ova, "My App.ovf"),
      `<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="x">
  <References><File ovf:id="f1" ovf:href="Data Disk.vmdk"/><File ovf:id="f2" ovf:href="Boot Disk.vmdk"/></References>
  <DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1"/><Disk ovf:diskId="d2" ovf:fileRef="f2"/></DiskSection>
  <VirtualSystem><VirtualHardwareSection>
    <Item><rasd:HostResource>ovf:/disk/d2</rasd:HostResource><rasd:ResourceType>17</rasd:ResourceType></Item>
  </VirtualHardwareSection></VirtualSystem>
</Envelope>`,
    );
    const file = join(dir, "My App.ova");
    execFileSync("tar", [
      "--format=ustar",
      "-cf",
      file,
      "-C",
      ova,
      "My App.ovf",
      "Boot Disk.vmdk",
      "Data Disk.vmdk",
    ]);
    const base = ["import", file, "--project", "my-project", "--bucket", "my-bucket"];
    const boot = await images(base);
    expect(boot.stderr).toContain("importing Boot Disk.vmdk (the boot disk) as my-app");
    expect(boot.code).toBe(0);
    const all = await images([...base, "--name", "app", "--all-disks"]);
    expect(all.code).toBe(0);
    const made = (await state()).images.filter((i) =>
      ["my-app", "app-1", "app-2"].includes(i.name),
    );
    expect(made.map((i) => [i.name, i.status]).sort()).toEqual([
      ["app-1", "READY"],
      ["app-2", "READY"],
      ["my-app", "READY"],
    ]);
    expect(imports()).toEqual([]);
  });

  it("without Cloud Storage credentials, converts nothing and names the variables to set", async () => {
    const home = mkdtempSync(join(tmpdir(), "no-credentials-"));
    try {
      // No metadata server, no Application Default Credentials in HOME, no key file.
      const run = await images(importArgs(join(dir, "web.qcow2"), "no-credentials"), {
        GCE_METADATA_HOST: "127.0.0.1:9",
        METADATA_SERVER_DETECTION: "none",
        HOME: home,
        GOOGLE_APPLICATION_CREDENTIALS: "",
      });
      expect(run.code).toBe(3);
      expect(run.stderr).toMatch(/no Cloud Storage credentials to upload with/);
      expect(run.stderr).toMatch(
        /export the three variables it prints \(IMAGES_STORAGE_ENDPOINT, GCE_METADATA_HOST, METADATA_SERVER_DETECTION\)/,
      );
      expect(run.stderr).not.toContain("Converting");
      expect(imports()).toEqual([]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("checks the bucket before converting anything: a missing one stops the import at once", async () => {
    await admin("faults", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ route: "storage.get", effect: "notFound", count: 1 }),
    });
    try {
      const run = await images([
        "import",
        join(dir, "web.qcow2"),
        "--project",
        "my-project",
        "--bucket",
        "no-such-bucket",
        "--name",
        "no-bucket",
      ]);
      expect(run.code).toBe(3);
      expect(run.stderr).toMatch(/gs:\/\/no-such-bucket does not exist; create it/);
      expect(run.stderr).not.toContain("Converting");
      expect(imports()).toEqual([]);
    } finally {
      await admin("faults", { method: "DELETE" });
    }
  });

  it("needs no compressor on PATH: compresses on every core itself, to an image that is READY", async () => {
    const bin = join(dir, "bin-tar-only");
    mkdirSync(bin, { recursive: true });
    for (const tool of ["node", "qemu-img", "tar"]) {
      const path = execFileSync("sh", ["-c", `command -v ${tool}`])
        .toString()
        .trim();
      symlinkSync(path, join(bin, tool));
    }
    const run = await images(
      [
        "import",
        join(dir, "web.qcow2"),
        "--project",
        "my-project",
        "--bucket",
        "my-bucket",
        "--name",
        "tar-only",
      ],
      { PATH: bin },
    );
    expect(run.code).toBe(0);
    expect(run.stderr).not.toMatch(/pigz|gzip is not/);
    expect((await state()).images.find((i) => i.name === "tar-only")).toMatchObject({
      status: "READY",
    });
  });
});
