import { Storage } from "@google-cloud/storage";
import { crc32c, crc32cBase64 } from "@imagesvc/runtime/crc32c";
import { checkRawDisk, HEAD_BYTES, type PreflightResult } from "./check-raw-disk";

const SOURCE_PREFIX = "https://storage.googleapis.com/";

export interface StorageSettings {
  /**
   * Cloud Storage's JSON API endpoint, for an emulator (e.g. `http://127.0.0.1:8085`). Default:
   * `STORAGE_EMULATOR_HOST` if set, else Google's. Credentials are Application Default
   * Credentials either way, so an emulator sees the tokens Google would.
   */
  readonly endpoint?: string;
  readonly projectId?: string;
}

/** A `@google-cloud/storage` client on Google's endpoint or an emulator's, with ADC tokens. */
export function createStorage(settings: StorageSettings = {}): Storage {
  const endpoint = settings.endpoint ?? process.env["STORAGE_EMULATOR_HOST"];
  return new Storage({
    ...(settings.projectId !== undefined && { projectId: settings.projectId }),
    crc32cGenerator: fastCrc32c,
    // The library sends no token to a custom endpoint unless told to; the emulator, like
    // Google, refuses calls without one.
    ...(endpoint !== undefined &&
      endpoint !== "" && {
        apiEndpoint: endpoint,
        useAuthWithCustomEndpoint: true,
      }),
  });
}

/**
 * The library's CRC-32C validator (it checks each upload and download against the object's
 * `crc32c`), on a CRC-32C about 15 times faster than its own: at its 70 MiB/s, the check was
 * what bounded an import's upload, not the network.
 */
function fastCrc32c() {
  let value = 0;
  return {
    update(data: Buffer) {
      value = crc32c(data, value);
    },
    toString: () => crc32cBase64(value),
    validate: (expected: string) => expected === crc32cBase64(value),
  };
}

/** `https://storage.googleapis.com/BUCKET/OBJECT` → bucket and object name, or undefined. */
export function parseSource(
  source: string,
): { readonly bucket: string; readonly object: string } | undefined {
  if (!source.startsWith(SOURCE_PREFIX)) return undefined;
  const path = source.slice(SOURCE_PREFIX.length);
  const slash = path.indexOf("/");
  if (slash <= 0 || slash === path.length - 1) return undefined;
  let object = path.slice(slash + 1);
  try {
    object = decodeURIComponent(object);
  } catch {
    // Not percent-encoded after all: the name as written.
  }
  return { bucket: path.slice(0, slash), object };
}

/**
 * What the pre-flight of a source concluded: the checks' result, or `unchecked` when the object
 * could not be read for a reason that says nothing about it (Cloud Storage unavailable, a
 * timeout, no credentials). Then Compute checks the archive itself, as it always does.
 */
export type SourceVerdict = PreflightResult | { readonly ok: "unchecked"; readonly reason: string };

export type RawDiskPreflight = (source: string, uefiCompatible: boolean) => Promise<SourceVerdict>;

export interface PreflightOptions {
  /** The whole pre-flight's bound (metadata and the ranged read), in ms (PREFLIGHT_TIMEOUT_MS). */
  readonly timeoutMs: number;
}

/**
 * The pre-flight of `image.raw_disk.source` with the service's own credentials: the object's
 * metadata, then one ranged read of its first HEAD_BYTES, then `checkRawDisk`. A missing object
 * and one the service may not read are failures (Compute could not read it either); anything
 * else that stops the read leaves the source unchecked.
 */
export function createRawDiskPreflight(
  storage: Storage,
  options: PreflightOptions,
): RawDiskPreflight {
  const { timeoutMs } = options;
  return async (source, uefiCompatible) => {
    const where = parseSource(source);
    if (where === undefined) return { ok: "unchecked", reason: `${source} is not an object URL` };
    const file = storage.bucket(where.bucket).file(where.object);
    const gs = `gs://${where.bucket}/${where.object}`;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<SourceVerdict>((resolve) => {
      timer = setTimeout(() => {
        resolve({ ok: "unchecked", reason: `Cloud Storage did not answer within ${timeoutMs} ms` });
      }, timeoutMs);
    });
    const read = (async (): Promise<SourceVerdict> => {
      const [meta] = await file.getMetadata();
      const size = Number(meta.size ?? 0);
      const head =
        size === 0 || meta.contentEncoding?.toLowerCase() === "gzip"
          ? new Uint8Array(0)
          : (await file.download({ start: 0, end: Math.min(size, HEAD_BYTES) - 1 }))[0];
      return checkRawDisk({
        source,
        head,
        uefiCompatible,
        ...(meta.contentEncoding !== undefined && { contentEncoding: meta.contentEncoding }),
      });
    })().catch((e: unknown) => verdictOf(e, source, gs));
    try {
      return await Promise.race([read, deadline]);
    } finally {
      clearTimeout(timer);
    }
  };
}

function verdictOf(e: unknown, source: string, gs: string): SourceVerdict {
  const code = typeof e === "object" && e !== null ? (e as { code?: unknown }).code : undefined;
  const message = e instanceof Error ? e.message : String(e);
  if (code === 404) {
    return {
      ok: false,
      code: "RESOURCE_NOT_FOUND",
      check: "the object exists",
      found: `${source} does not exist (Cloud Storage answered 404: ${message})`,
      fix: `upload the archive first: images import DISK_FILE --bucket BUCKET, or gcloud storage cp IMAGE.tar.gz ${gs}`,
    };
  }
  if (code === 403) {
    return {
      ok: false,
      code: "PERMISSION_DENIED",
      check: "the service can read the object",
      found: `the service's credentials may not read ${gs} (Cloud Storage answered 403: ${message})`,
      fix: `grant the service's account roles/storage.objectViewer on the bucket, or ask its operators to switch the pre-flight off (PREFLIGHT=off) if it must not read buckets`,
    };
  }
  return { ok: "unchecked", reason: `could not read ${gs}: ${message}` };
}
