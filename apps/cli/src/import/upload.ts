import type { Storage } from "@google-cloud/storage";
import { open, type FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as delay } from "node:timers/promises";
import { progressBar, type DisplayMode } from "../progress-bar";

/** Resumable uploads go in chunks of this many bytes; each chunk the server holds is kept. */
export const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;
const CHUNK_UNIT = 256 * 1024;

export interface UploadTarget {
  readonly bucket: string;
  readonly object: string;
}

/**
 * The archive to upload: complete already, or still being written (by tar) until `written`
 * settles. A file still being written is read as it grows, so the upload goes on beside the
 * compression instead of after it.
 */
export interface ArchiveSource {
  readonly path: string;
  /** Resolves once the file is complete, rejects if its writer fails; absent: complete now. */
  readonly written?: Promise<void>;
}

/**
 * Uploads the archive resumably. `uri` is the session of an earlier, interrupted run of the same
 * import: the library asks it how much it holds, reads past that much of the archive, and sends
 * only the rest (so the archive must begin with the same bytes: see `sameStart`). `onSession`
 * receives a new session's URI before the first byte goes, so an interruption at any point can
 * be resumed.
 */
export async function uploadArchive(
  storage: Storage,
  source: ArchiveSource,
  target: UploadTarget,
  options: {
    readonly uri: string | undefined;
    readonly chunkBytes: number;
    readonly signal: AbortSignal;
    readonly onSession: (uri: string) => void;
    readonly onProgress: (bytes: number) => void;
  },
): Promise<void> {
  if (options.chunkBytes % CHUNK_UNIT !== 0)
    throw new RangeError(`the chunk size must be a multiple of ${CHUNK_UNIT} bytes`);
  const file = storage.bucket(target.bucket).file(target.object);
  let uri = options.uri;
  if (uri === undefined) {
    [uri] = await file.createResumableUpload({ metadata: { contentType: "application/gzip" } });
    options.onSession(uri);
  }
  const upload = file.createWriteStream({
    uri,
    resumable: true,
    chunkSize: options.chunkBytes,
    contentType: "application/gzip",
    // The archive is stored as it is: never with a gzip Content-Encoding (Compute would get the
    // transcoded tar).
    gzip: false,
  });
  upload.on("progress", (event: { bytesWritten?: number }) => {
    options.onProgress(event.bytesWritten ?? 0);
  });
  await pipeline(Readable.from(readGrowing(source, options.signal)), upload, {
    signal: options.signal,
  });
}

/** How long a reader at the end of a file still being written waits before it looks again. */
const GROWTH_POLL_MS = 20;
const READ_BYTES = 1024 * 1024;

/**
 * The bytes of `source` from its start, as they are written: at the end of the file so far it
 * waits for more, and it ends at the end of the file once the writer is done. Rejects if the
 * writer fails. Only an appending writer may be read so (tar into a compressor writes in order
 * and never seeks back).
 */
export async function* readGrowing(
  source: ArchiveSource,
  signal: AbortSignal,
  /** Stop after this many bytes. */
  limit = Number.POSITIVE_INFINITY,
): AsyncGenerator<Buffer> {
  let complete = source.written === undefined;
  let failed: { reason: unknown } | undefined;
  source.written?.then(
    () => (complete = true),
    (reason: unknown) => (failed = { reason }),
  );
  const fd = await openWhenCreated(source, signal);
  try {
    let position = 0;
    while (position < limit) {
      if (failed !== undefined) throw failed.reason;
      // Read the flag before the file: a short read after the writer was done is the end.
      const wasComplete = complete;
      const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, limit - position));
      const { bytesRead } = await fd.read(buffer, 0, buffer.length, position);
      if (bytesRead > 0) {
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
      } else if (wasComplete) return;
      else await delay(GROWTH_POLL_MS, undefined, { signal });
    }
  } finally {
    await fd.close();
  }
}

/** The file, opened for reading once its writer has created it. */
async function openWhenCreated(source: ArchiveSource, signal: AbortSignal): Promise<FileHandle> {
  for (;;) {
    try {
      return await open(source.path, "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || source.written === undefined) throw e;
      await delay(GROWTH_POLL_MS, undefined, { signal });
    }
  }
}

/**
 * How many bytes an upload session holds (Cloud Storage's status query: an empty PUT whose
 * Content-Range names no bytes and no total), or undefined when the session is gone (expired,
 * or cancelled) and a new one is needed. A complete upload holds everything: Infinity.
 */
export async function heldBytes(storage: Storage, uri: string): Promise<number | undefined> {
  const answer = await storage.authClient.request({
    url: uri,
    method: "PUT",
    headers: { "Content-Length": "0", "Content-Range": "bytes */*" },
    validateStatus: (status) => status === 308 || status === 404 || status === 410 || status < 300,
  });
  if (answer.status === 404 || answer.status === 410) return undefined;
  if (answer.status !== 308) return Number.POSITIVE_INFINITY; // complete: it holds everything
  const range = /bytes=0-(\d+)/.exec(answer.headers.get("range") ?? "")?.[1];
  return range === undefined ? 0 : Number(range) + 1;
}

/**
 * Whether `source` begins with the first `length` bytes of `reference` (the archive an
 * interrupted run was uploading, of which the session holds that many): read as `source` is
 * written, so it is known as soon as `source` is as long. Only what the session holds is
 * compared: the end of an interrupted archive may be a compressor's last flush, never sent. A
 * rebuilt archive is the same bytes when the tools and the disk are (the archive is made
 * reproducible: no times in it but the input's), and then its upload resumes; any difference
 * (another tar, another release of this CLI) and the upload starts over, never one object spliced from two.
 */
export async function sameStart(
  reference: string,
  length: number,
  source: ArchiveSource,
  signal: AbortSignal,
): Promise<boolean> {
  const handle = await open(reference, "r");
  try {
    if ((await handle.stat()).size < length) return false;
    let position = 0;
    for await (const chunk of readGrowing(source, signal, length)) {
      const expected = Buffer.allocUnsafe(chunk.length);
      await handle.read(expected, 0, chunk.length, position);
      if (!expected.equals(chunk)) return false;
      position += chunk.length;
    }
    return position === length;
  } finally {
    await handle.close();
  }
}

/** The phases of an import whose progress is shown, in bytes of the disk's data (or the archive's). */
export type ImportPhase = "convert" | "archive" | "upload";

const VERB: Record<ImportPhase, string> = {
  convert: "converted",
  archive: "archived",
  upload: "uploaded",
};

/**
 * One phase's progress, out of `total` bytes: a bar with the rate and an ETA smoothed over the
 * last 20 updates on a TTY; a line per 10% off one; with --json an NDJSON event on stdout per
 * whole percent (`{"event":"progress","phase":"upload","bytes":…,"totalBytes":…,"percent":…}`).
 */
export function phaseProgress(
  mode: DisplayMode,
  phase: ImportPhase,
  total: number,
): { update(bytes: number): void; stop(): void } {
  const percentOf = (bytes: number) =>
    Math.min(100, Math.floor((bytes / Math.max(total, 1)) * 100));
  if (mode === "json") {
    let shown = -1;
    return {
      update(bytes) {
        const percent = percentOf(bytes);
        if (percent === shown) return;
        shown = percent;
        process.stdout.write(
          `${JSON.stringify({ event: "progress", phase, bytes, totalBytes: total, percent })}\n`,
        );
      },
      stop: () => undefined,
    };
  }
  if (mode === "lines") {
    let shown = -1;
    return {
      update(bytes) {
        const tenth = Math.floor(percentOf(bytes) / 10);
        if (tenth === shown) return;
        shown = tenth;
        process.stderr.write(`${VERB[phase]} ${size(bytes)} of ${size(total)} (${tenth * 10}%)\n`);
      },
      stop: () => undefined,
    };
  }
  const bar = progressBar(
    `${phase.padEnd(7)} {bar} {percentage}% | {done} / {total_size} | {rate} | ETA {eta_formatted}`,
    process.stderr,
    { etaBuffer: 20 },
  );
  const started = Date.now();
  let first: number | undefined;
  bar.start(total, 0, { done: size(0), total_size: size(total), rate: "-" });
  return {
    update(bytes) {
      first ??= bytes; // a resumed upload starts where the last one stopped
      const seconds = (Date.now() - started) / 1000;
      const rate = seconds > 0 ? `${size((bytes - first) / seconds)}/s` : "-";
      bar.update(Math.min(bytes, total), { done: size(bytes), rate });
    },
    stop: () => {
      bar.stop();
    },
  };
}

/** Bytes as people read them: 1.5 GiB, 300 MiB. */
export function size(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit] ?? "B"}`;
}
