import {
  checkDiskSectors,
  checkRawDisk,
  HEAD_BYTES,
  LABEL_BYTES,
  type PreflightResult,
} from "@imagesvc/preflight";
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream } from "node:fs";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parallelGzip } from "./parallel-gzip";
import { closeSync, openSync, readSync, rmSync, statSync, truncateSync } from "node:fs";
import { basename, dirname, join } from "node:path";

const GIB = 1024 ** 3;

/** A local problem with the input or a tool: nothing was uploaded (exit code 2). */
export class ImportError extends Error {
  override readonly name = "ImportError";
}

/** The disk formats `images import` converts, by qemu-img's names. */
export const DISK_FORMATS = ["vmdk", "vpc", "vhdx", "qcow2", "raw"] as const;

export type DiskFile =
  | {
      readonly kind: "disk";
      readonly format: string;
      readonly virtualSize: number;
      /** Bytes the input holds on disk (qemu-img's "actual-size"): its data, holes left out. */
      readonly actualSize: number;
    }
  /** Already a gzip archive (an image.tar.gz): checked and uploaded as it is. */
  | { readonly kind: "archive" };

/** Fails with the Debian package to install unless `qemu-img` runs. */
export function requireQemuImg(): void {
  const probe = spawnSync("qemu-img", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0)
    throw new ImportError(
      "qemu-img is not installed; it converts disk files to raw. Install it: sudo apt-get install qemu-utils (Debian/Ubuntu), brew install qemu (macOS)",
    );
}

/** Fails unless `tar` is GNU tar, the only tar that writes the OLDGNU sparse archives Compute takes. */
export function requireGnuTar(): void {
  const probe = spawnSync("tar", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0 || !probe.stdout.includes("GNU tar"))
    throw new ImportError(
      `GNU tar is needed to archive the disk as Compute wants it (--format=oldgnu -S); ${probe.error === undefined ? `"tar" is ${probe.stdout.split("\n")[0] ?? "another tar"}` : "tar is not installed"}. Install it: sudo apt-get install tar (Debian/Ubuntu), brew install gnu-tar (macOS, then put gtar first on PATH as tar)`,
    );
}

/** What the tools print as progress: `tar: 655360 (640KiB, …)` and `(12.34/100%)`. */
const PROGRESS_LINE = /^tar: \d+ \(|^\s*\(\d+(?:\.\d+)?\/100%\)/;

/**
 * Runs a tool to its end; rejects with what it printed on stderr. Aborting kills it. With
 * `stdoutTo`, its output goes to that consumer (which must read it all) instead of the answer.
 */
export function run(
  command: string,
  args: readonly string[],
  signal: AbortSignal,
  /** Told of each chunk the tool prints (stderr, and stdout unless it goes to `stdoutTo`). */
  onOutput?: (text: string) => void,
  stdoutTo?: (stdout: Readable) => Promise<void>,
): Promise<string> {
  const child = spawn(command, args, { signal, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<string>((resolve, reject) => {
    let out = "";
    let err = "";
    if (stdoutTo === undefined)
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        onOutput?.(d.toString());
      });
    child.stderr.on("data", (d: Buffer) => {
      // Progress lines (tar's checkpoints, qemu-img's percentages) stay out of the error
      // message; of the rest, the last 64 KiB is kept.
      const said = d
        .toString()
        .split(/(?<=\n)/)
        .filter((line) => !PROGRESS_LINE.test(line))
        .join("");
      err = (err + said).slice(-65536);
      onOutput?.(d.toString());
    });
    child.once("error", reject);
    child.once("close", (code) => {
      if (code === 0) resolve(out);
      else
        reject(
          new ImportError(`${command} ${args.join(" ")} failed (exit ${code}): ${err.trim()}`),
        );
    });
  });
  if (stdoutTo === undefined) return exited;
  // A consumer that fails (a full disk) stops the tool, and its error is the one told: the tool
  // then dies of the broken pipe. A tool that fails first ends its output early, which the
  // consumer takes as the end, so then the tool's error is told.
  const consumed = stdoutTo(child.stdout).catch((e: unknown) => {
    child.kill();
    throw e;
  });
  return Promise.allSettled([exited, consumed]).then(([tool, consumer]) => {
    if (consumer.status === "rejected") throw consumer.reason;
    if (tool.status === "rejected") throw tool.reason;
    return tool.value;
  });
}

/** What the file is: a gzip archive, or a disk in a format qemu-img reads. */
export async function inspectDisk(file: string, signal: AbortSignal): Promise<DiskFile> {
  const head = readHead(file, 2);
  if (head[0] === 0x1f && head[1] === 0x8b) return { kind: "archive" };
  requireQemuImg();
  const info = JSON.parse(await run("qemu-img", ["info", "--output=json", file], signal)) as {
    format?: string;
    "virtual-size"?: number;
    "actual-size"?: number;
  };
  const format = info.format ?? "unknown";
  if (!(DISK_FORMATS as readonly string[]).includes(format))
    throw new ImportError(
      `${file} is a ${format} disk; images import converts ${DISK_FORMATS.join(", ")} (qemu-img's names: vpc is VHD)`,
    );
  return {
    kind: "disk",
    format,
    virtualSize: info["virtual-size"] ?? 0,
    actualSize: info["actual-size"] ?? info["virtual-size"] ?? 0,
  };
}

/**
 * The most scratch space an import of `disk` takes in its cache folder: the sparse raw disk (its
 * data; holes take none), unless the input is raw of whole GiB already, plus the archive, which
 * compression never makes larger than the data by more than gzip's framing.
 */
export function scratchBytes(disk: Extract<DiskFile, { kind: "disk" }>): number {
  const rawInPlace = archivedAsItIs(disk);
  const data = disk.actualSize;
  return (rawInPlace ? 0 : data) + Math.ceil(data * 1.001) + 1024 * 1024;
}

/** The size Compute wants: whole GiB, rounded up. */
export const wholeGib = (bytes: number) => Math.max(1, Math.ceil(bytes / GIB)) * GIB;

/** A raw disk of whole GiB already: archived as it is, with no conversion and no copy. */
export const archivedAsItIs = (disk: Extract<DiskFile, { kind: "disk" }>) =>
  disk.format === "raw" && disk.virtualSize === wholeGib(disk.virtualSize);

/** Where an import's raw disk comes from: converted into `path`, or the input as it is. */
export interface RawDisk {
  readonly path: string;
  /** Bytes of data it holds (holes left out): what the convert and archive phases count. */
  readonly dataBytes: number;
  /** True when it is the input file itself (raw, whole GiB already): never removed. */
  readonly isInput: boolean;
  /** The input's modification time: the archive's one time, so that it is reproducible. */
  readonly mtimeMs: number;
}

/**
 * The disk as Compute wants it inside the archive: a sparse raw file of a whole number of GiB.
 * qemu-img converts it into `dir/disk.raw` (`-p`: its progress, as a share of the disk, reaches
 * `onProgress` in bytes of data), unless the input is raw at that size already.
 */
export async function convertDisk(
  file: string,
  disk: Extract<DiskFile, { kind: "disk" }>,
  dir: string,
  signal: AbortSignal,
  onProgress: (bytes: number) => void,
): Promise<RawDisk> {
  const size = wholeGib(disk.virtualSize);
  const { mtimeMs } = statSync(file);
  if (archivedAsItIs(disk))
    return { path: file, dataBytes: disk.actualSize, isInput: true, mtimeMs };
  const raw = join(dir, "disk.raw");
  try {
    await run(
      "qemu-img",
      ["convert", "-p", "-O", "raw", "-f", disk.format, file, raw],
      signal,
      (text) => {
        const percent = lastMatch(text, /\((\d+(?:\.\d+)?)\/100%\)/g);
        if (percent !== undefined) onProgress((percent / 100) * disk.actualSize);
      },
    );
    if (statSync(raw).size < size) truncateSync(raw, size); // grows sparse: holes, not bytes
  } catch (e) {
    rmSync(raw, { force: true });
    throw e;
  }
  return { path: raw, dataBytes: disk.actualSize, isInput: false, mtimeMs };
}

/**
 * `tar --format=oldgnu -Sc` of the raw disk, as `disk.raw`, gzip-compressed on every core
 * (parallel-gzip.ts) straight into `archive`, which it only appends to (so it can be uploaded as
 * it grows). Every 640 KiB tar reads, the bytes read so far reach `onProgress` (its
 * checkpoints). The same disk makes the same archive: owner, group and time are fixed (the time
 * is the input's), and the gzip stream depends on the bytes alone. A converted raw disk is
 * removed once archived.
 */
export async function archiveRaw(
  raw: RawDisk,
  archive: string,
  signal: AbortSignal,
  onProgress: (bytes: number) => void,
): Promise<void> {
  requireGnuTar();
  const member = basename(raw.path);
  try {
    await run(
      "tar",
      [
        "--format=oldgnu",
        "-Sc",
        // Records of 64 KiB, not 10: the pipe to the compressor carries a quarter of the writes.
        "--blocking-factor=128",
        "-f",
        "-",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        `--mtime=@${String(Math.floor(raw.mtimeMs / 1000))}`,
        // A checkpoint every 10 records of 64 KiB: 640 KiB.
        "--checkpoint=10",
        "--checkpoint-action=echo=%{r}T",
        ...(member !== "disk.raw" ? ["--transform", "s|^.*$|disk.raw|"] : []),
        "-C",
        dirname(raw.path),
        member,
      ],
      signal,
      (text) => {
        const bytes = lastMatch(text, /^tar: (\d+) \(/gm);
        if (bytes !== undefined) onProgress(bytes);
      },
      (tarStream) =>
        pipeline(tarStream, (source) => parallelGzip(source), createWriteStream(archive), {
          signal,
        }),
    );
    onProgress(raw.dataBytes);
  } finally {
    if (!raw.isInput) rmSync(raw.path, { force: true });
  }
}

/** The raw disk's own checks (size, partition table, UEFI), before it is compressed. */
export function checkRaw(raw: RawDisk, uefiCompatible: boolean): PreflightResult {
  return checkDiskSectors({
    size: statSync(raw.path).size,
    sectors: readHead(raw.path, LABEL_BYTES),
    uefiCompatible,
  });
}

/** The number in the last match of `pattern`'s first group in `text`, if any. */
function lastMatch(text: string, pattern: RegExp): number | undefined {
  let last: number | undefined;
  for (const m of text.matchAll(pattern)) last = Number(m[1]);
  return last;
}

/** Our own pre-flight of the archive, before a byte goes up: the gateway's checks, locally. */
export function checkArchive(archive: string, uefiCompatible: boolean): PreflightResult {
  return checkRawDisk({ source: archive, head: readHead(archive, HEAD_BYTES), uefiCompatible });
}

function readHead(file: string, bytes: number): Buffer {
  const fd = openSync(file, "r");
  try {
    const buffer = Buffer.alloc(bytes);
    const n = readSync(fd, buffer, 0, bytes, 0);
    return buffer.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
