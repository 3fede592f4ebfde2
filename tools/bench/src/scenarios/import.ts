// `images import` against the plain pipeline on the same machine: a qcow2 of 2 GiB virtual with
// a fixed mix of random and compressible data, imported with the CLI to a READY image on the
// emulator, each phase timed from the CLI's own lines; beside it, qemu-img convert, tar -Sc |
// pigz (gzip where pigz is missing) and one upload of the result with @google-cloud/storage.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
  closeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AppProcess } from "../processes";
import { env, log } from "../settings";
import { round } from "../stats";

const CLI = fileURLToPath(new URL("../../../dist/apps/cli/main.js", import.meta.url));
const MIB = 1024 * 1024;
const BUCKET = "bench-import";

/** A 2 GiB disk holding `mib` MiB of data: half random, half compressible text, as qcow2. */
function makeDisk(dir: string, mib: number): string {
  const raw = join(dir, "src.raw");
  execFileSync("truncate", ["-s", "2G", raw]);
  const fd = openSync(raw, "r+");
  try {
    const text = Buffer.from(
      "compressible image data, the same line again and again\n".repeat(20_000),
    ).subarray(0, MIB);
    for (let i = 0; i < mib; i++) {
      // Random at the start of the disk, compressible in its second GiB.
      const random = i < mib / 2;
      writeSync(
        fd,
        random ? randomBytes(MIB) : text,
        0,
        MIB,
        random ? i * MIB : 1024 * MIB + (i - mib / 2) * MIB,
      );
    }
    const mbr = Buffer.alloc(512);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    writeSync(fd, mbr, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  const qcow2 = join(dir, "disk.qcow2");
  execFileSync("qemu-img", ["convert", "-O", "qcow2", raw, qcow2]);
  rmSync(raw);
  return qcow2;
}

const seconds = (since: number) => (performance.now() - since) / 1000;
const hasPigz = () => spawnSync("pigz", ["--version"]).status === 0;

/** Bytes a folder's files take on disk (allocated blocks, so sparse files count what they hold). */
function diskUsage(dir: string): number {
  const out = spawnSync("du", ["-sk", dir], { encoding: "utf8" }).stdout;
  return Number(out.split("\t")[0] ?? 0) * 1024;
}

export async function importRun(emulator: AppProcess, gatewayUrl: string) {
  const mib = env("BENCH_IMPORT_MIB", 512);
  const dir = mkdtempSync(join(tmpdir(), "imagesvc-bench-import-"));
  const metadataHost = emulator.url.replace("http://", "");
  const toolEnv = {
    GCE_METADATA_HOST: metadataHost,
    METADATA_SERVER_DETECTION: "assume-present",
  };
  try {
    const disk = makeDisk(dir, mib);
    const dataBytes = mib * MIB;

    // The CLI, phases timed from its own lines as they come.
    const cache = join(dir, "cache");
    mkdirSync(cache);
    const started = performance.now();
    const marks: Record<string, number> = {};
    let peakRss = 0;
    let peakDisk = 0;
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          CLI,
          "import",
          disk,
          "--project",
          "bench-import",
          "--bucket",
          BUCKET,
          "--name",
          "bench-import",
          "--storage-endpoint",
          emulator.url,
        ],
        {
          env: {
            PATH: process.env["PATH"] ?? "",
            XDG_CACHE_HOME: cache,
            IMAGES_GATEWAY: gatewayUrl,
            ...toolEnv,
          },
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      const sample = setInterval(() => {
        try {
          const status = readFileSync(`/proc/${String(child.pid)}/status`, "utf8");
          peakRss = Math.max(peakRss, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024);
        } catch {
          // exited
        }
        peakDisk = Math.max(peakDisk, diskUsage(cache));
      }, 200);
      let err = "";
      child.stderr.on("data", (c: Buffer) => {
        err += c.toString();
        // The upload runs beside the archive: it starts with it, and ends before CreateImage.
        if (marks["archive"] === undefined && /^archived /m.test(err))
          marks["archive"] = seconds(started);
        if (marks["archived"] === undefined && /^archived .*\(100%\)/m.test(err))
          marks["archived"] = seconds(started);
        if (marks["create"] === undefined && err.includes("accepted; following"))
          marks["create"] = seconds(started);
      });
      child.once("exit", (code) => {
        clearInterval(sample);
        if (code === 0) resolve();
        else reject(new Error(`images import exited ${String(code)}: ${err.slice(-2000)}`));
      });
    });
    const cliSeconds = seconds(started);
    const convertedAt = marks["archive"] ?? 0;
    const archivedAt = marks["archived"] ?? convertedAt;
    const uploadedAt = marks["create"] ?? cliSeconds;
    /** From the archive's first byte to the upload's last: the CLI's upload, beside the archive. */
    const cliUploadSeconds = uploadedAt - convertedAt;

    // The plain pipeline: convert, tar | pigz, one upload.
    const plainDir = join(dir, "plain");
    mkdirSync(plainDir);
    const raw = join(plainDir, "disk.raw");
    const t0 = performance.now();
    execFileSync("qemu-img", ["convert", "-O", "raw", disk, raw]);
    const convertSeconds = seconds(t0);
    const archive = join(plainDir, "disk.tar.gz");
    const t1 = performance.now();
    const compress = hasPigz() ? "pigz" : "gzip";
    execFileSync("sh", [
      "-c",
      `tar --format=oldgnu -Sc -C "${plainDir}" disk.raw | ${compress} -c > "${archive}"`,
    ]);
    const compressSeconds = seconds(t1);
    rmSync(raw);
    const archiveBytes = statSync(archive).size;
    const upload = spawnSync(
      process.execPath,
      [join(import.meta.dirname, "plain-upload.js"), emulator.url, BUCKET, archive, "plain.tar.gz"],
      { env: { PATH: process.env["PATH"] ?? "", ...toolEnv }, encoding: "utf8" },
    );
    if (upload.status !== 0)
      throw new Error(`the plain upload failed: ${upload.stderr.slice(0, 3000)} ${upload.stdout}`);
    const uploadSeconds = Number(upload.stdout.trim());
    // What the emulator's Cloud Storage takes, without a client's checksums in the way.
    const bare = spawnSync(
      process.execPath,
      [
        join(import.meta.dirname, "plain-upload.js"),
        emulator.url,
        BUCKET,
        archive,
        "raw.tar.gz",
        "raw",
      ],
      { env: { PATH: process.env["PATH"] ?? "", ...toolEnv }, encoding: "utf8" },
    );
    if (bare.status !== 0)
      throw new Error(`the raw upload failed: ${bare.stderr.slice(0, 3000)} ${bare.stdout}`);
    const storageSeconds = Number(bare.stdout.trim());
    const plainSeconds = convertSeconds + compressSeconds + uploadSeconds;

    const result = {
      dataMiB: mib,
      archiveMiB: round(archiveBytes / MIB, 1),
      compressor: compress,
      cli: {
        seconds: round(cliSeconds, 2),
        /** Until the archive's first progress line: start-up, checks, qemu-img convert. */
        convertSeconds: round(convertedAt, 2),
        /** tar | pigz, with the upload beside it. */
        archiveSeconds: round(archivedAt - convertedAt, 2),
        /** What the upload took once the archive was complete. */
        uploadAfterArchiveSeconds: round(uploadedAt - archivedAt, 2),
        uploadSeconds: round(cliUploadSeconds, 2),
        dataMiBPerSecond: round(dataBytes / MIB / cliSeconds, 1),
        peakRssMiB: round(peakRss / MIB, 1),
        peakScratchMiB: round(peakDisk / MIB, 1),
      },
      plain: {
        seconds: round(plainSeconds, 2),
        convertSeconds: round(convertSeconds, 2),
        compressSeconds: round(compressSeconds, 2),
        uploadSeconds: round(uploadSeconds, 2),
      },
      overPlain: round(cliSeconds / plainSeconds, 2),
      overSlowerOfCompressAndUpload: round(
        cliSeconds / Math.max(compressSeconds, uploadSeconds),
        2,
      ),
      /** The emulator's Cloud Storage rate against the CLI's: it must not be what is measured. */
      storageMiBPerSecond: round(archiveBytes / MIB / storageSeconds, 1),
      cliUploadMiBPerSecond: round(archiveBytes / MIB / cliUploadSeconds, 1),
      storageOverCliUploadRate: round(cliUploadSeconds / storageSeconds, 1),
    };
    log(
      `  import: ${String(result.cli.seconds)} s by the CLI, ${String(result.plain.seconds)} s by hand (${String(result.overPlain)}×)`,
    );
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
