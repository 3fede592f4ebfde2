import type { Storage } from "@google-cloud/storage";
import { progressBar, type DisplayMode } from "../progress-bar";

/** Resumable uploads go in chunks of this many bytes; each chunk the server holds is kept. */
export const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;
const CHUNK_UNIT = 256 * 1024;

export interface UploadTarget {
  readonly bucket: string;
  readonly object: string;
}

/**
 * Uploads `archive` resumably. `uri` is the session of an earlier, interrupted run of the same
 * import: the upload asks it how much it holds and sends only the rest. `onSession` receives a
 * new session's URI before the first byte goes, so an interruption at any point can be resumed.
 */
export async function uploadArchive(
  storage: Storage,
  archive: string,
  target: UploadTarget,
  options: {
    readonly uri: string | undefined;
    readonly chunkBytes: number;
    readonly onSession: (uri: string) => void;
    readonly onProgress: (bytes: number) => void;
  },
): Promise<void> {
  if (options.chunkBytes % CHUNK_UNIT !== 0)
    throw new RangeError(`the chunk size must be a multiple of ${CHUNK_UNIT} bytes`);
  const bucket = storage.bucket(target.bucket);
  let uri = options.uri;
  if (uri === undefined) {
    [uri] = await bucket.file(target.object).createResumableUpload({
      metadata: { contentType: "application/gzip" },
    });
    options.onSession(uri);
  }
  await bucket.upload(archive, {
    destination: target.object,
    uri,
    resumable: true,
    chunkSize: options.chunkBytes,
    contentType: "application/gzip",
    // The archive is stored as it is: never with a gzip Content-Encoding (Compute would get the
    // transcoded tar).
    gzip: false,
    onUploadProgress: (event: { bytesWritten?: number }) => {
      options.onProgress(event.bytesWritten ?? 0);
    },
  });
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
