import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { createStorage } from "@imagesvc/preflight";
import { RetryInfoSchema, type ImageService, type Operation } from "@imagesvc/proto";
import { validateCreateImageRequest } from "@imagesvc/validation";
import { createHash, randomUUID } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  statfsSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { createRequestFromFlags, UsageError, type CreateFlags } from "../create-request";
import { EXIT } from "../exit-codes";
import { ndjson } from "../output";
import {
  archivedAsItIs,
  archiveRaw,
  checkArchive,
  checkRaw,
  convertDisk,
  ImportError,
  inspectDisk,
  scratchBytes,
  type RawDisk,
} from "./disk-archive";
import { extractMember, ovaDisks, type OvaDisk } from "./ova";
import {
  DEFAULT_CHUNK_BYTES,
  heldBytes,
  phaseProgress,
  sameStart,
  size,
  uploadArchive,
  type ArchiveSource,
  type ImportPhase,
} from "./upload";
import type { DisplayMode } from "../progress-bar";

export interface ImportFlags extends Omit<CreateFlags, "sourceUri"> {
  readonly bucket: string;
  readonly name?: string;
  readonly object?: string;
  readonly storageEndpoint?: string;
  readonly chunkSize?: number;
  readonly async?: boolean;
  /** For an OVA: import every disk its OVF names, each as its own image, not only the boot disk. */
  readonly allDisks?: boolean;
}

/** What the import command needs from the rest of the CLI. */
export interface ImportContext {
  client(): Client<typeof ImageService>;
  follow(project: string, operation: string, from?: Operation): Promise<number>;
  json(): boolean;
  /** Prints libs/validation's violations with the flags they come from. */
  printViolations(violations: ReturnType<typeof validateCreateImageRequest>): void;
}

/**
 * What an import keeps between runs, beside its archive, so that running the same command again
 * resumes instead of starting over: the upload session, whether the upload finished, and the
 * request id (a rerun after an unanswered CreateImage never creates a second image).
 */
interface ImportState {
  readonly requestId: string;
  uri?: string;
  /**
   * An interrupted run's session, while its archive is rebuilt: it becomes `uri` again only once
   * the new archive is found to begin with the bytes the session holds. Never resumed unchecked.
   */
  unverifiedUri?: string;
  /** The archive is complete (its upload may still be under way). */
  archived?: boolean;
  uploaded?: boolean;
  /** The input was a .tar.gz already: it is uploaded where it is, never copied. */
  inPlace?: boolean;
}

/** Read through a call: the import's callbacks set it while TypeScript has it narrowed. */
const archiveComplete = (state: ImportState) => state.archived === true;

/** The image name a file suggests: `Web Server.vmdk` → `web-server`. */
export function imageNameOf(file: string): string {
  const stem = basename(file).replace(/\.(tar\.gz|[a-z0-9]+)$/i, "");
  const name = stem
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+$/, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return name === "" ? "imported-disk" : name;
}

/**
 * `images import FILE`: disk file → raw, whole GiB → `tar --format=oldgnu -Sczf`, uploaded
 * resumably as it is written → CreateImage (the gateway's pre-flight runs) → followed to DONE
 * like `create`.
 *
 * Resuming: an interruption once the archive is complete resumes its upload. One while it is
 * still being written (and uploaded) converts and archives the disk again (the archive is
 * reproducible); the new archive is checked against the old one's bytes (`sameStart`) before
 * the upload resumes where it stopped, and starts over if they differ.
 */
export async function importDisk(
  file: string,
  flags: ImportFlags,
  ctx: ImportContext,
): Promise<number> {
  const say = (line: string) => {
    if (!ctx.json()) process.stderr.write(`${line}\n`);
  };
  let stat;
  try {
    stat = statSync(file);
  } catch {
    throw new UsageError(`${file}: no such file; give the disk file to import`);
  }
  if (!stat.isFile()) throw new UsageError(`${file} is not a file`);
  const ova = ovaDisks(file);
  if (ova !== undefined) return importOva(file, ova, stat, flags, ctx);
  if (flags.allDisks === true)
    throw new UsageError(`--all-disks is for an OVA; ${file} is a single disk`);
  const name = flags.name ?? imageNameOf(file);
  const object = flags.object ?? `${name}.tar.gz`;
  const source = `https://storage.googleapis.com/${flags.bucket}/${object}`;
  const request = createRequestFromFlags(name, { ...flags, sourceUri: source });
  const violations = validateCreateImageRequest(request);
  if (violations.length > 0) {
    ctx.printViolations(violations);
    return EXIT.usage;
  }

  // One folder per import (the file as it is now, and where it goes), kept until it is done.
  const dir = cacheFolder("imports", file, stat, [flags.bucket, object]);
  const statePath = join(dir, "state.json");
  const ownArchive = join(dir, "disk.tar.gz");
  /** While an archive is rebuilt: the interrupted run's archive, which its upload came from. */
  const sentArchive = join(dir, "sent.tar.gz");
  const saved = existsSync(statePath)
    ? (JSON.parse(readFileSync(statePath, "utf8")) as ImportState)
    : undefined;
  const resumed =
    saved !== undefined &&
    (saved.inPlace === true || existsSync(ownArchive) || existsSync(sentArchive));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state: ImportState = resumed ? saved : { requestId: flags.requestId ?? randomUUID() };
  let archive = state.inPlace === true ? file : ownArchive;
  const save = () => {
    writeFileSync(statePath, JSON.stringify(state));
  };
  const discard = () => {
    rmSync(dir, { recursive: true, force: true });
  };

  // Ctrl-C: stop the tools; keep only what resumes (an upload under way), remove the rest.
  const abort = new AbortController();
  let stage: "prepare" | "upload" | "create" = "prepare";
  const onSigint = () => {
    abort.abort();
    if (stage === "prepare") discard();
    else {
      rmSync(join(dir, "disk.raw"), { force: true }); // made again if the archive is
      process.stderr.write(
        `\nInterrupted. Run the same command again to resume ${stage === "create" ? "with the uploaded archive" : state.archived === true || state.inPlace === true ? "the upload where it stopped" : "the upload where it stopped (the disk is converted and archived again first, and checked against what was sent)"}; or remove ${dir} to start over.\n`,
      );
    }
    process.exit(130);
  };
  process.once("SIGINT", onSigint);
  const mode: DisplayMode = ctx.json() ? "json" : process.stderr.isTTY ? "tty" : "lines";
  const uefi = request.image?.guestOsFeatures.some((f) => f.type === "UEFI_COMPATIBLE") === true;
  // The image's project, so that the storage library never looks for one: it would run
  // `gcloud config config-helper` and ask the metadata server first, about 0.6 s before any work.
  const storage = createStorage({
    projectId: request.project,
    ...(flags.storageEndpoint !== undefined && { endpoint: flags.storageEndpoint }),
  });
  const target = { bucket: flags.bucket, object };
  const upload = (source: ArchiveSource, signal: AbortSignal, onProgress: (b: number) => void) =>
    uploadArchive(storage, source, target, {
      uri: state.uri,
      chunkBytes: flags.chunkSize ?? DEFAULT_CHUNK_BYTES,
      signal,
      onSession: (uri) => {
        state.uri = uri;
        save();
        stage = "upload";
      },
      onProgress,
    });
  const uploadStopped = (e: unknown) =>
    new StorageError(
      `the upload to gs://${flags.bucket}/${object} stopped: ${e instanceof Error ? e.message : String(e)}. Run the same command again to resume it.`,
    );
  try {
    if (resumed) {
      say(`Resuming the import of ${file} (${dir}).`);
      if (state.uri !== undefined) stage = "upload";
    }
    if (state.inPlace !== true && state.archived !== true) {
      try {
        // Before any work: the credentials, and a bucket that exists and takes our upload (a
        // failure there is the one told), while qemu-img says what the file is.
        const [bucket, inspected] = await Promise.allSettled([
          checkBucket(storage, flags.bucket),
          inspectDisk(file, abort.signal),
        ]);
        if (bucket.status === "rejected") throw bucket.reason;
        if (inspected.status === "rejected") throw inspected.reason;
        const disk = inspected.value;
        if (disk.kind === "archive") {
          say(`${file} is already a gzip archive; checking it and uploading it where it is.`);
          const check = checkArchive(file, uefi);
          if (!check.ok)
            throw new ImportError(
              `the archive fails "${check.check}": ${check.found}. ${check.fix}`,
            );
          for (const w of check.warnings) say(`WARNING: ${w.message}`);
          state.inPlace = true;
          archive = file;
          save();
        } else {
          // An archive that an interrupted run was uploading: what the new one must begin with.
          // Its session is set aside until the new archive is checked against it.
          if (existsSync(sentArchive)) rmSync(ownArchive, { force: true });
          else if (existsSync(ownArchive)) renameSync(ownArchive, sentArchive);
          if (state.uri !== undefined) {
            state.unverifiedUri = state.uri;
            delete state.uri;
            save();
          }
          const sentBytes = existsSync(sentArchive) ? statSync(sentArchive).size : 0;
          say(
            `Converting ${file} (${disk.format}, ${size(disk.virtualSize)}) to a raw disk of whole GiB, and archiving it (tar --format=oldgnu -S, gzip-compressed) while it uploads…`,
          );
          const needed = scratchBytes(disk) + sentBytes;
          const { bavail, bsize } = statfsSync(dir);
          const free = bavail * bsize;
          if (free < needed)
            throw new ImportError(
              `the import needs up to ${size(needed)} of scratch space in ${dir} and its filesystem has ${size(free)} free; free some, or set XDG_CACHE_HOME to a folder on a larger one`,
            );
          say(
            `This import needs up to ${size(needed)} of scratch space in ${dir} (${size(free)} free).`,
          );
          const raw = !archivedAsItIs(disk)
            ? await withProgress(mode, "convert", disk.actualSize, (progress) =>
                convertDisk(file, disk, dir, abort.signal, progress),
              )
            : await convertDisk(file, disk, dir, abort.signal, () => undefined);
          // The disk's own checks right after the conversion: a disk Compute would refuse is
          // never compressed or uploaded.
          const check = checkRaw(raw, uefi);
          if (!check.ok) {
            if (!raw.isInput) rmSync(raw.path, { force: true });
            throw new ImportError(`the disk fails "${check.check}": ${check.found}. ${check.fix}`);
          }
          for (const w of check.warnings) say(`WARNING: ${w.message}`);
          await archiveWhileUploading(raw, {
            mode,
            signal: abort.signal,
            archive: ownArchive,
            sentArchive: existsSync(sentArchive) ? sentArchive : undefined,
            upload,
            uploadStopped,
            held: () =>
              state.unverifiedUri === undefined
                ? Promise.resolve(undefined)
                : heldBytes(storage, state.unverifiedUri),
            say,
            onVerified: () => {
              state.uri = state.unverifiedUri;
              delete state.unverifiedUri;
              save();
            },
            onArchived: () => {
              state.archived = true;
              save();
            },
            onStartOver: () => {
              delete state.uri;
              delete state.unverifiedUri;
              save();
            },
          });
          state.uploaded = true;
          save();
        }
      } catch (e) {
        // The archive is incomplete, or the disk was refused: nothing worth resuming. Kept: an
        // upload that stopped after its archive was complete, and a resumed run's session and
        // archive through a Cloud Storage failure.
        if (!(e instanceof StorageError && (archiveComplete(state) || resumed))) discard();
        throw e;
      }
    }

    if (state.uploaded !== true && state.uri !== undefined) {
      // A session that expired (or was cancelled) cannot resume; one already complete is done.
      const held = await heldBytes(storage, state.uri).catch(() => 0);
      if (held === undefined) {
        say("The upload session expired; the upload starts over.");
        delete state.uri;
      } else if (held === Number.POSITIVE_INFINITY) state.uploaded = true;
      save();
    }
    rmSync(sentArchive, { force: true }); // an unchecked archive's leftover: never resumed from
    if (state.uploaded !== true) {
      stage = "upload";
      say(`Uploading ${size(statSync(archive).size)} to gs://${flags.bucket}/${object}…`);
      try {
        await withProgress(mode, "upload", statSync(archive).size, (progress) =>
          upload({ path: archive }, abort.signal, progress),
        );
      } catch (e) {
        throw uploadStopped(e);
      }
      state.uploaded = true;
      save();
    }

    stage = "create";
    let op: Operation;
    try {
      op = await ctx.client().createImage({ ...request, requestId: state.requestId });
    } catch (e) {
      // Refused for good (the pre-flight, a name taken, no permission): start over next time.
      // Refused for now: the upload stays, and the same command creates the image without it.
      if (!isRetryable(ConnectError.from(e))) discard();
      else say("The upload is kept: run the same command again to create the image from it.");
      throw e;
    }
    discard();
    process.off("SIGINT", onSigint); // from here on, Ctrl-C stops following, as in `create`
    if (flags.async === true) {
      process.stdout.write(ctx.json() ? ndjson(op) : `${op.name}\n`);
      return EXIT.ok;
    }
    // `follow` says the operation is accepted, once it handles Ctrl-C.
    for (const w of op.warnings) say(`WARNING: ${w.code}: ${w.message}`);
    return await ctx.follow(op.project, op.name, op);
  } finally {
    process.off("SIGINT", onSigint);
  }
}

/**
 * The cache folder of work on `file` as it is now (its path, size and time) and `more` (where
 * it goes): `~/.cache/imagesvc/KIND/KEY`, or under XDG_CACHE_HOME. A changed file is new work.
 */
function cacheFolder(
  kind: "imports" | "ova",
  file: string,
  stat: { size: number; mtimeMs: number },
  more: readonly string[],
): string {
  const key = createHash("sha256")
    .update(JSON.stringify([realpathSync(file), stat.size, stat.mtimeMs, ...more]))
    .digest("hex")
    .slice(0, 24);
  return join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "imagesvc", kind, key);
}

/** Fails with StorageError unless the caller's credentials may create objects in `bucket`. */
async function checkBucket(
  storage: ReturnType<typeof createStorage>,
  bucket: string,
): Promise<void> {
  try {
    await storage.authClient.getAccessToken();
  } catch (e) {
    throw new StorageError(
      `no Cloud Storage credentials to upload with (${e instanceof Error ? e.message.split("\n")[0] : String(e)}), so nothing was converted. Against npm start's stack, export the three variables it prints (IMAGES_STORAGE_ENDPOINT, GCE_METADATA_HOST, METADATA_SERVER_DETECTION); against Google, run gcloud auth application-default login or set GOOGLE_APPLICATION_CREDENTIALS (--storage-endpoint names another endpoint)`,
    );
  }
  const b = storage.bucket(bucket);
  try {
    await b.getMetadata();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    throw new StorageError(
      code === 404
        ? `gs://${bucket} does not exist; create it (gcloud storage buckets create gs://${bucket}) or name another with --bucket`
        : `cannot reach gs://${bucket} before converting anything: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const [granted] = await b.iam.testPermissions(["storage.objects.create"]);
  if (granted["storage.objects.create"] !== true)
    throw new StorageError(
      `these credentials may not write to gs://${bucket} (storage.objects.create, in roles/storage.objectCreator); grant it, or name another bucket`,
    );
}

/**
 * An OVA: its boot disk (or, with --all-disks, each disk its OVF names, as IMAGE-1, IMAGE-2, …)
 * extracted beside the import's cache and imported as a disk file. The extraction keeps each
 * disk's time, so running the same command again resumes each import where it stopped.
 */
async function importOva(
  file: string,
  disks: readonly OvaDisk[],
  stat: { size: number; mtimeMs: number },
  flags: ImportFlags,
  ctx: ImportContext,
): Promise<number> {
  const chosen = flags.allDisks === true ? disks : disks.filter((d) => d.boot);
  if (chosen.length > 1 && flags.object !== undefined)
    throw new UsageError("--object names one object; leave it out with --all-disks");
  const dir = cacheFolder("ova", file, stat, []);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const base = flags.name ?? imageNameOf(file);
  let worst: number = EXIT.ok;
  for (const [i, disk] of chosen.entries()) {
    const name = chosen.length > 1 ? `${base}-${String(i + 1)}` : base;
    if (!ctx.json())
      process.stderr.write(
        `${file}: importing ${disk.member}${disk.boot ? " (the boot disk)" : ""} as ${name}.\n`,
      );
    extractMember(file, disk.member, dir);
    const code = await importDisk(join(dir, disk.member), { ...flags, name, allDisks: false }, ctx);
    worst = Math.max(worst, code);
  }
  if (worst === EXIT.ok) rmSync(dir, { recursive: true, force: true });
  return worst;
}

/**
 * A CreateImage refusal that a later try may not get: the gateway unreachable or draining, an
 * internal failure, a deadline, or a quota or rate limit that says when to come back (RetryInfo).
 */
export function isRetryable(e: ConnectError): boolean {
  switch (e.code) {
    case Code.Unavailable:
    case Code.DeadlineExceeded:
    case Code.Unknown:
    case Code.Internal:
    case Code.Aborted:
    case Code.Canceled:
      return true;
    case Code.ResourceExhausted:
      return e.findDetails(RetryInfoSchema).length > 0;
    default:
      return false;
  }
}

/** Cloud Storage could not be reached or refused us: exit 3, like an unreachable gateway. */
export class StorageError extends Error {
  override readonly name = "StorageError";
}

/** Runs one phase of the import with its progress shown (see phaseProgress). */
async function withProgress<T>(
  mode: DisplayMode,
  phase: ImportPhase,
  total: number,
  work: (progress: (bytes: number) => void) => Promise<T>,
): Promise<T> {
  const shown = phaseProgress(mode, phase, total);
  try {
    return await work((bytes) => {
      shown.update(bytes);
    });
  } finally {
    shown.stop();
  }
}

/**
 * Archives the raw disk into `archive` and uploads it as it is written: the import takes about as
 * long as the slower of the two. With `sentArchive` (the archive an interrupted run was
 * uploading), the new archive is first compared with it as it grows; the upload resumes the old
 * session only if it begins with the same bytes, and otherwise starts over (`onStartOver`). The
 * archive's progress shows while tar runs, then the upload's from where it is. Rejects with the
 * tar's failure (the upload is stopped), or with `uploadStopped` of the upload's failure once
 * the archive is complete (`onArchived` has run: a rerun only uploads).
 */
async function archiveWhileUploading(
  raw: RawDisk,
  how: {
    readonly mode: DisplayMode;
    readonly signal: AbortSignal;
    readonly archive: string;
    readonly sentArchive: string | undefined;
    readonly upload: (
      source: ArchiveSource,
      signal: AbortSignal,
      onProgress: (bytes: number) => void,
    ) => Promise<void>;
    readonly uploadStopped: (e: unknown) => StorageError;
    /** What the interrupted run's session holds (heldBytes); asked only with `sentArchive`. */
    readonly held: () => Promise<number | undefined>;
    /** The new archive begins with what the session holds: the session resumes. */
    readonly onVerified: () => void;
    readonly onArchived: () => void;
    /** The session cannot resume: a new one is made (a differing archive is also told). */
    readonly onStartOver: () => void;
    /** Prints a line for the user (once the archive's progress is done drawing). */
    readonly say: (line: string) => void;
  },
): Promise<void> {
  const stop = new AbortController();
  /** Lines to print once the archive's progress bar is done with the terminal. */
  const notes: string[] = [];
  let drawing = true;
  const note = (line: string) => {
    if (drawing) notes.push(line);
    else how.say(line);
  };
  const signal = AbortSignal.any([how.signal, stop.signal]);
  const archiving = phaseProgress(how.mode, "archive", raw.dataBytes);
  const written = archiveRaw(raw, how.archive, signal, (bytes) => {
    archiving.update(bytes);
  });
  const source: ArchiveSource = { path: how.archive, written };
  // The upload's progress shows once the archive's is done, from where the upload is by then.
  const uploaded: { bytes: number; shown?: ReturnType<typeof phaseProgress> } = { bytes: 0 };
  const uploading = (async () => {
    if (how.sentArchive !== undefined) {
      // Any doubt (no session, a complete or expired one, a failed check) starts over: an
      // object is never spliced from two archives.
      const held = await how.held().catch(() => undefined);
      const same =
        held !== undefined &&
        Number.isFinite(held) &&
        (await sameStart(how.sentArchive, held, source, signal).catch(() => false));
      rmSync(how.sentArchive, { force: true }); // before a byte of the new archive is sent
      if (same) how.onVerified();
      else {
        how.onStartOver();
        if (held !== undefined && Number.isFinite(held))
          note(
            "The rebuilt archive differs from the one being uploaded (another tar, or another release of this CLI or of Node, whose zlib compresses it?), so the upload starts over.",
          );
      }
    }
    await how.upload(source, signal, (bytes) => {
      uploaded.bytes = bytes;
      uploaded.shown?.update(bytes);
    });
  })();
  // Awaited below, once the archive is complete: a failed upload waits for tar, so that a rerun
  // only has the upload to resume.
  uploading.catch(() => undefined);
  try {
    await written;
  } catch (e) {
    stop.abort();
    throw e;
  } finally {
    archiving.stop();
    drawing = false;
    for (const line of notes) how.say(line);
  }
  how.onArchived();
  const shown = phaseProgress(how.mode, "upload", statSync(how.archive).size);
  uploaded.shown = shown;
  shown.update(uploaded.bytes);
  try {
    await uploading;
  } catch (e) {
    throw how.uploadStopped(e);
  } finally {
    shown.stop();
  }
}
