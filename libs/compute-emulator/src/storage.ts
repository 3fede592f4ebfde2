import { createHash, randomUUID } from "node:crypto";
import { once } from "node:events";
import {
  closeSync,
  createWriteStream,
  mkdtempSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Md5Thread } from "./md5-thread";
import { ComputeFault, notFound } from "./compute-error";
import { crc32c, crc32cBase64 } from "@imagesvc/runtime/crc32c";
import { virtualArchive } from "./raw-disk-archive";

const VIRTUAL_TIME = "2026-01-01T00:00:00.000Z";
let virtualHashes: { readonly md5Hash: string; readonly crc32c: string } | undefined;

/** The virtual archive's checksums, computed once: every object never uploaded reads as it. */
function virtualDigests() {
  if (virtualHashes !== undefined) return virtualHashes;
  const data = virtualArchive();
  virtualHashes = {
    md5Hash: createHash("md5").update(data).digest("base64"),
    crc32c: crc32cBase64(crc32c(data, 0)),
  };
  return virtualHashes;
}

/** An object's metadata, as Cloud Storage's JSON API returns it (the fields clients read). */
export interface ObjectJson extends Record<string, unknown> {
  readonly kind: "storage#object";
  readonly bucket: string;
  readonly name: string;
  readonly size: string;
  readonly generation: string;
  readonly contentType: string;
  readonly contentEncoding?: string;
  readonly md5Hash: string;
  readonly updated: string;
}

interface StoredObject {
  readonly json: ObjectJson;
  /** The file holding an uploaded object's bytes. */
  readonly path?: string;
  /** The bytes of a virtual object (one never uploaded). */
  readonly data?: Buffer;
}

interface Upload {
  readonly bucket: string;
  readonly name: string;
  readonly contentType: string;
  readonly contentEncoding: string | undefined;
  readonly path: string;
  received: number;
  /** The CRC-32C of the bytes received so far, kept as they come (their MD5: the Md5Thread). */
  crc: number;
  /** The chunk being written, if any: chunks and status queries of one upload go one at a time. */
  tail: Promise<unknown>;
}

/** One chunk of a resumable upload: where it starts, its bytes, the total if known, the cap. */
interface UploadChunk {
  readonly offset: number;
  readonly body: AsyncIterable<Buffer> | Iterable<Buffer>;
  readonly total: number | undefined;
  readonly maxBytes: number;
}

/**
 * The emulator's Cloud Storage: objects kept as local files, under a temporary directory that
 * `close()` removes. Enough of the JSON API for `@google-cloud/storage`: metadata, media with
 * `Range`, list, delete, and media, multipart and resumable uploads (a resumable upload answers
 * 308 with the bytes it holds, so an interrupted client resumes where it stopped).
 *
 * An object never uploaded is missing (404), unless `virtual(bucket, name)` says it exists: then
 * it reads as `virtualArchive()`, a small valid image archive, so clients that never upload keep
 * working. Virtual objects are not listed and cannot be deleted.
 */
export class ObjectStorage {
  private readonly dir = mkdtempSync(join(tmpdir(), "emulator-storage-"));
  private readonly objects = new Map<string, StoredObject>();
  private readonly uploads = new Map<string, Upload>();
  /** The MD5 of each open upload, hashed on a thread of its own as its bytes come. */
  private readonly md5 = new Md5Thread();
  /** Every byte of every resumable upload's chunks, resent ones included (uploadsState). */
  private bytesReceived = 0;
  private generation = Date.now() * 1000;

  constructor(private readonly virtual: (bucket: string, name: string) => boolean = () => false) {}

  metadata(bucket: string, name: string): ObjectJson {
    return this.find(bucket, name).json;
  }

  /** Bytes [start, end] of an object (inclusive, as in HTTP ranges), clamped to its size. */
  read(bucket: string, name: string, start: number, end: number): Buffer {
    const object = this.find(bucket, name);
    const size = Number(object.json.size);
    const last = Math.min(end, size - 1);
    if (start > last) return Buffer.alloc(0);
    if (object.path === undefined)
      return (object.data ?? Buffer.alloc(0)).subarray(start, last + 1);
    const out = Buffer.alloc(last - start + 1);
    const fd = openSync(object.path, "r");
    try {
      readSync(fd, out, 0, out.length, start);
    } finally {
      closeSync(fd);
    }
    return out;
  }

  /** Every object of every bucket, for the admin state. */
  all(): ObjectJson[] {
    return [...this.objects.values()].map((o) => o.json);
  }

  /**
   * Resumable uploads, for the admin state: the bytes each open one holds, and every byte of
   * every chunk received since the last reset, resent ones included (what a client's resume
   * saved is measured by it).
   */
  uploadsState(): {
    readonly open: { readonly bucket: string; readonly name: string; readonly received: number }[];
    readonly bytesReceived: number;
  } {
    return {
      open: [...this.uploads.values()].map(({ bucket, name, received }) => ({
        bucket,
        name,
        received,
      })),
      bytesReceived: this.bytesReceived,
    };
  }

  list(bucket: string, prefix: string): ObjectJson[] {
    return [...this.objects.values()]
      .map((o) => o.json)
      .filter((o) => o.bucket === bucket && o.name.startsWith(prefix))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  delete(bucket: string, name: string): void {
    const object = this.objects.get(`${bucket}/${name}`);
    if (object?.path === undefined) throw notFound(`${bucket}/${name}`);
    rmSync(object.path, { force: true });
    this.objects.delete(`${bucket}/${name}`);
  }

  /** Stores a whole object at once (media or multipart upload). */
  put(
    bucket: string,
    name: string,
    data: Buffer,
    contentType: string,
    contentEncoding?: string,
  ): ObjectJson {
    const path = join(this.dir, randomUUID());
    writeFileSync(path, data);
    const sums = { md5: createHash("md5").update(data).digest("base64"), crc: crc32c(data) };
    return this.commit(bucket, name, path, contentType, contentEncoding, sums);
  }

  /** Opens a resumable upload session; returns its id. */
  startUpload(bucket: string, name: string, contentType: string, contentEncoding?: string): string {
    if (name === "") throw new ComputeFault(400, "required", "Required parameter: name");
    const id = randomUUID();
    const path = join(this.dir, `upload-${id}`);
    writeFileSync(path, "");
    this.uploads.set(id, {
      bucket,
      name,
      contentType,
      contentEncoding,
      path,
      received: 0,
      crc: 0,
      tail: Promise.resolve(),
    });
    return id;
  }

  /**
   * Takes a chunk of a resumable upload at `offset`, streamed from `body` straight to the
   * upload's file (hashed as it passes, never gathered in memory; at most `maxBytes`). Bytes the
   * session already holds are skipped (a client resending after a lost answer); a gap is
   * refused. What arrived before a broken connection is kept, as Cloud Storage keeps it, so the
   * client's status query resumes after it. Returns the object once `total` bytes are in, else
   * how many the session holds.
   */
  async appendUpload(
    id: string,
    offset: number,
    body: AsyncIterable<Buffer> | Iterable<Buffer>,
    total: number | undefined,
    maxBytes: number,
  ): Promise<{ readonly done: ObjectJson } | { readonly received: number }> {
    const upload = this.uploads.get(id);
    if (upload === undefined) throw notFound(`upload ${id}`);
    // One writer at a time: a client resending a chunk whose answer it lost waits for the first
    // to finish, then skips what it added.
    const turn = upload.tail.then(() => this.append(id, upload, { offset, body, total, maxBytes }));
    upload.tail = turn.catch(() => undefined);
    return turn;
  }

  /** How many bytes a resumable upload holds, once the chunk being written (if any) is in. */
  async settledStatus(id: string): Promise<number> {
    const upload = this.uploads.get(id);
    if (upload === undefined) throw notFound(`upload ${id}`);
    await upload.tail;
    return upload.received;
  }

  /** appendUpload's work, in the upload's turn. */
  private async append(
    id: string,
    upload: Upload,
    chunk: UploadChunk,
  ): Promise<{ readonly done: ObjectJson } | { readonly received: number }> {
    const { offset, body, total, maxBytes } = chunk;
    if (this.uploads.get(id) !== upload) throw notFound(`upload ${id}`); // committed meanwhile
    if (offset > upload.received)
      throw new ComputeFault(
        400,
        "invalid",
        `Invalid request. Chunk starts at ${offset}; the upload holds ${upload.received} bytes`,
      );
    let skip = upload.received - offset;
    let size = 0;
    // Room for 8 MiB in flight to the file: with the default 16 KiB, every chunk the request
    // brings waited for its write before the next was read.
    const out = createWriteStream(upload.path, { flags: "a", highWaterMark: 8 << 20 });
    const closed = new Promise<void>((resolve, reject) => {
      out.once("close", resolve);
      out.once("error", reject);
    });
    try {
      for await (const chunk of body) {
        size += chunk.length;
        this.bytesReceived += chunk.length;
        if (size > maxBytes)
          throw new ComputeFault(413, "requestTooLarge", "Request payload size exceeds the limit.");
        const cut = Math.min(skip, chunk.length);
        skip -= cut;
        const fresh = cut === 0 ? chunk : chunk.subarray(cut);
        if (fresh.length === 0) continue;
        this.md5.update(id, fresh);
        upload.crc = crc32c(fresh, upload.crc);
        upload.received += fresh.length;
        if (!out.write(fresh)) await once(out, "drain");
      }
    } finally {
      out.end();
      await closed;
    }
    if (total !== undefined && upload.received >= total) {
      // The digest first: until the object is committed, the session still answers status.
      const md5 = await this.md5.digest(id);
      this.uploads.delete(id);
      return {
        done: this.commit(
          upload.bucket,
          upload.name,
          upload.path,
          upload.contentType,
          upload.contentEncoding,
          { md5, crc: upload.crc },
        ),
      };
    }
    return { received: upload.received };
  }

  /** Forgets every object and upload. */
  reset(): void {
    for (const o of this.objects.values())
      if (o.path !== undefined) rmSync(o.path, { force: true });
    for (const [id, u] of this.uploads) {
      rmSync(u.path, { force: true });
      this.md5.drop(id);
    }
    this.objects.clear();
    this.uploads.clear();
    this.bytesReceived = 0;
  }

  close(): void {
    this.md5.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private find(bucket: string, name: string): StoredObject {
    const object = this.objects.get(`${bucket}/${name}`);
    if (object !== undefined) return object;
    if (!this.virtual(bucket, name)) throw notFound(`${bucket}/${name}`);
    const data = virtualArchive();
    const digests = virtualDigests();
    return {
      data,
      json: {
        kind: "storage#object",
        id: `${bucket}/${name}/1`,
        bucket,
        name,
        size: String(data.length),
        generation: "1",
        metageneration: "1",
        contentType: "application/gzip",
        ...digests,
        updated: VIRTUAL_TIME,
        timeCreated: VIRTUAL_TIME,
        storageClass: "STANDARD",
      },
    };
  }

  private commit(
    bucket: string,
    name: string,
    tempPath: string,
    contentType: string,
    contentEncoding: string | undefined,
    /** The checksums of the object's bytes, computed as they arrived: never a second read. */
    { md5, crc }: { readonly md5: string; readonly crc: number },
  ): ObjectJson {
    const previous = this.objects.get(`${bucket}/${name}`);
    const path = join(this.dir, randomUUID());
    renameSync(tempPath, path);
    if (previous?.path !== undefined) rmSync(previous.path, { force: true });
    const size = statSync(path).size;
    this.generation += 1;
    const json: ObjectJson = {
      kind: "storage#object",
      id: `${bucket}/${name}/${this.generation}`,
      bucket,
      name,
      size: String(size),
      generation: String(this.generation),
      metageneration: "1",
      contentType,
      ...(contentEncoding !== undefined && contentEncoding !== "" && { contentEncoding }),
      md5Hash: md5,
      crc32c: crc32cBase64(crc),
      updated: new Date().toISOString(),
      timeCreated: new Date().toISOString(),
      storageClass: "STANDARD",
    };
    this.objects.set(`${bucket}/${name}`, { json, path });
    return json;
  }
}
