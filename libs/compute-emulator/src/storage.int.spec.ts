// The emulator's Cloud Storage, driven by @google-cloud/storage itself, unchanged but for its
// endpoint, authenticating with a token as it would against Google.
import { Storage } from "@google-cloud/storage";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startComputeEmulator, type ComputeEmulator } from "./index";

let emulator: ComputeEmulator;
let storage: Storage;
const dir = mkdtempSync(join(tmpdir(), "emulator-gcs-"));

beforeAll(async () => {
  // Strict Cloud Storage: an object never uploaded is missing (see import.int.spec.ts for "valid").
  emulator = await startComputeEmulator({ unknownObjects: "missing" });
  // Tokens from the emulator's metadata server, through Application Default Credentials, as a
  // worker on Google Cloud gets them (this spec runs in a process of its own).
  process.env["GCE_METADATA_HOST"] = emulator.metadataHost;
  process.env["METADATA_SERVER_DETECTION"] = "assume-present";
  storage = new Storage({
    apiEndpoint: emulator.url,
    projectId: "p-1",
    useAuthWithCustomEndpoint: true,
  });
});
afterAll(async () => {
  await emulator.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the emulator's Cloud Storage", () => {
  it("uploads resumably in chunks, then serves metadata, ranges, lists and deletes", async () => {
    const data = randomBytes(3 * 256 * 1024 + 100);
    const path = join(dir, "disk.tar.gz");
    writeFileSync(path, data);
    const bucket = storage.bucket("images");
    const file = bucket.file("web/disk.tar.gz");
    // The session URI first (an authenticated call; the URI is then the upload's credential, and
    // what a client keeps to resume after an interruption), then 256 KiB chunks: four PUTs, each
    // answered 308 with what the session holds, then 200.
    const [uri] = await file.createResumableUpload({
      metadata: { contentType: "application/gzip" },
    });
    await bucket.upload(path, {
      destination: "web/disk.tar.gz",
      uri,
      resumable: true,
      chunkSize: 256 * 1024,
      contentType: "application/gzip",
    });
    const [meta] = await file.getMetadata();
    expect(meta).toMatchObject({
      bucket: "images",
      name: "web/disk.tar.gz",
      size: String(data.length),
      contentType: "application/gzip",
      md5Hash: createMd5(data),
      crc32c: expect.any(String) as unknown,
    });
    const [head] = await file.download({ start: 0, end: 1023 });
    expect(head.equals(data.subarray(0, 1024))).toBe(true);
    const [all] = await file.download();
    expect(all.equals(data)).toBe(true);
    const [files] = await bucket.getFiles({ prefix: "web/" });
    expect(files.map((f) => f.name)).toEqual(["web/disk.tar.gz"]);
    expect(emulator.admin.state().objects.map((o) => o.name)).toEqual(["web/disk.tar.gz"]);
    expect(emulator.admin.state().calls["metadata.token"]).toBeGreaterThanOrEqual(1);
    await file.delete();
    await expect(file.getMetadata()).rejects.toMatchObject({ code: 404 });
  });

  it("resumes an interrupted upload where it stopped", async () => {
    const data = randomBytes(2 * 256 * 1024 + 7);
    const path = join(dir, "resumed.tar.gz");
    writeFileSync(path, data);
    const bucket = storage.bucket("images");
    const [uri] = await bucket.file("resumed.tar.gz").createResumableUpload();
    // The first chunk arrived before the client was interrupted.
    const first = await fetch(uri, {
      method: "PUT",
      headers: { "content-range": `bytes 0-${256 * 1024 - 1}/*` },
      body: data.subarray(0, 256 * 1024),
    });
    expect(first.status).toBe(308);
    expect(first.headers.get("range")).toBe(`bytes=0-${256 * 1024 - 1}`);
    // Run again with the same session: the client asks where it stands and sends the rest.
    await bucket.upload(path, {
      destination: "resumed.tar.gz",
      uri,
      resumable: true,
      chunkSize: 256 * 1024,
    });
    const [all] = await bucket.file("resumed.tar.gz").download();
    expect(all.equals(data)).toBe(true);
  });

  it("keeps an object's Content-Encoding, as a transcoded upload would have it", async () => {
    const file = storage.bucket("images").file("transcoded.tar.gz");
    await file.save(randomBytes(100), { resumable: false, metadata: { contentEncoding: "gzip" } });
    const [meta] = await file.getMetadata();
    expect(meta.contentEncoding).toBe("gzip");
  });

  it("refuses a call without a token, as Cloud Storage does", async () => {
    const anonymous = new Storage({ apiEndpoint: emulator.url, projectId: "p-1" });
    await expect(anonymous.bucket("images").file("x").getMetadata()).rejects.toMatchObject({
      code: 401,
    });
  });
});

const createMd5 = (data: Buffer) => createHash("md5").update(data).digest("base64");
