import { Worker } from "node:worker_threads";

/**
 * The MD5 of each open resumable upload, computed on a thread of its own: hashing every byte on
 * the main thread, beside the HTTP and the writes, was what bounded the emulator's Cloud Storage
 * (docs/performance.md). The CRC-32C stays on the main thread (it is about twice as fast).
 * Updates of one upload are hashed in the order they are sent.
 */
export class Md5Thread {
  private worker: Worker | undefined;
  private readonly digests = new Map<
    string,
    { resolve: (md5: string) => void; reject: (e: Error) => void }
  >();

  /** Adds `bytes` to upload `id`'s hash; they are copied, so the caller may reuse them. */
  update(id: string, bytes: Uint8Array): void {
    const copy = new Uint8Array(bytes);
    this.thread().postMessage({ id, bytes: copy }, [copy.buffer]);
  }

  /** Upload `id`'s MD5 in base64, as Cloud Storage's `md5Hash`; forgets the upload. */
  digest(id: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.digests.set(id, { resolve, reject });
      this.thread().postMessage({ id, end: true });
    });
  }

  /** Forgets upload `id` (reset, or never finished). */
  drop(id: string): void {
    this.worker?.postMessage({ id, end: true });
  }

  close(): void {
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private thread(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(SOURCE, { eval: true });
    // The emulator's process may end with uploads open: the thread never holds it up.
    worker.unref();
    worker.on("message", ({ id, md5 }: { id: string; md5: string }) => {
      this.digests.get(id)?.resolve(md5);
      this.digests.delete(id);
    });
    const fail = (e: Error) => {
      for (const { reject } of this.digests.values()) reject(e);
      this.digests.clear();
      this.worker = undefined;
    };
    worker.on("error", fail);
    worker.on("exit", (code) => {
      if (this.worker === worker) fail(new Error(`the MD5 thread exited (${String(code)})`));
    });
    this.worker = worker;
    return worker;
  }
}

/** The thread: one running MD5 per upload id; `end` answers with the digest and forgets it. */
const SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hashes = new Map();
parentPort.on("message", ({ id, bytes, end }) => {
  let hash = hashes.get(id);
  if (hash === undefined) {
    hash = createHash("md5");
    hashes.set(id, hash);
  }
  if (bytes !== undefined) hash.update(bytes);
  if (end) {
    hashes.delete(id);
    parentPort.postMessage({ id, md5: hash.digest("base64") });
  }
});
`;
