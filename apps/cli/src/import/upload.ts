import type { Storage } from "@google-cloud/storage";
import { progressBar, type DisplayMode } from "../progress-bar";
import { statSync } from "node:fs";

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

/** Upload progress: bytes, rate and ETA on a TTY; a line per 10% off one; nothing with --json. */
export function uploadProgress(
  mode: DisplayMode,
  archive: string,
): { update(bytes: number): void; stop(): void } {
  const total = statSync(archive).size;
  if (mode === "json") return { update: () => undefined, stop: () => undefined };
  if (mode === "lines") {
    let shown = -1;
    return {
      update(bytes) {
        const tenth = Math.floor((bytes / Math.max(total, 1)) * 10);
        if (tenth === shown) return;
        shown = tenth;
        process.stderr.write(`uploaded ${size(bytes)} of ${size(total)} (${tenth * 10}%)\n`);
      },
      stop: () => undefined,
    };
  }
  const bar = progressBar(
    "upload {bar} {percentage}% | {done} / {total_size} | {rate} | ETA {eta_formatted}",
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
      bar.update(bytes, { done: size(bytes), rate });
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
