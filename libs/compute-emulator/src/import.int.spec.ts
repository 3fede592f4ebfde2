// images.insert with a rawDisk.source in the emulator's Cloud Storage opens the archive, and each
// trap ends the operation DONE with Compute's code and message, minutes (here: a moment) later.
import { Storage } from "@google-cloud/storage";
import { firstMember } from "@imagesvc/preflight/tar";
import { diskSectors, tarHeader } from "@imagesvc/preflight/testing";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startComputeEmulator, type ComputeEmulator } from "./index";
import { VIRTUAL_DISK_GIB } from "./raw-disk-archive";

const GIB = 1024 ** 3;
let emulator: ComputeEmulator;
let storage: Storage;
const TOKEN = "import-spec-token";

beforeAll(async () => {
  emulator = await startComputeEmulator({ operationDurationMs: 200, staticTokens: [TOKEN] });
  process.env["GCE_METADATA_HOST"] = emulator.metadataHost;
  process.env["METADATA_SERVER_DETECTION"] = "assume-present";
  storage = new Storage({ apiEndpoint: emulator.url, useAuthWithCustomEndpoint: true });
});
afterAll(() => emulator.close());

const archive = (name: string, size: number, format: "gnu" | "posix" = "gnu") =>
  gzipSync(Buffer.concat([tarHeader(name, size, { format }), diskSectors("mbr")]));

async function insert(name: string, object: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${emulator.url}/compute/v1/projects/p-1/global/images`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({
      name,
      rawDisk: { source: `https://storage.googleapis.com/${object}` },
    }),
  });
  expect(res.status).toBe(200);
  const op = (await res.json()) as { name: string; status: string };
  expect(op.status).not.toBe("DONE"); // accepted first, as Compute does; the archive fails later
  for (;;) {
    const done = await fetch(
      `${emulator.url}/compute/v1/projects/p-1/global/operations/${op.name}/wait`,
      { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } },
    );
    const json = (await done.json()) as Record<string, unknown>;
    if (json["status"] === "DONE") return json;
  }
}

async function image(name: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${emulator.url}/compute/v1/projects/p-1/global/images/${name}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return (await res.json()) as Record<string, unknown>;
}

describe("the emulator's raw disk import", () => {
  it("makes a READY image from a valid uploaded archive, with its sizes", async () => {
    const data = archive("disk.raw", 3 * GIB);
    await storage.bucket("b").file("good.tar.gz").save(data, { resumable: false });
    const op = await insert("good", "b/good.tar.gz");
    expect(op["error"]).toBeUndefined();
    expect(await image("good")).toMatchObject({
      status: "READY",
      archiveSizeBytes: String(data.length),
      diskSizeGb: "3",
    });
  });

  it("reads an object again once it is overwritten: a new generation is a new archive", async () => {
    const file = storage.bucket("b").file("rewritten.tar.gz");
    await file.save(archive("disk.raw", 2 * GIB), { resumable: false });
    expect((await insert("rewritten-1", "b/rewritten.tar.gz"))["error"]).toBeUndefined();
    expect(await image("rewritten-1")).toMatchObject({ diskSizeGb: "2" });
    await file.save(archive("disk.img", GIB), { resumable: false });
    const op = await insert("rewritten-2", "b/rewritten.tar.gz");
    expect(op["error"]).toMatchObject({ errors: [{ code: "INVALID_IMAGE_TAR" }] });
    await file.save(archive("disk.raw", 5 * GIB), { resumable: false });
    expect((await insert("rewritten-3", "b/rewritten.tar.gz"))["error"]).toBeUndefined();
    expect(await image("rewritten-3")).toMatchObject({ diskSizeGb: "5" });
  });

  it.each([
    [
      "not gzip (a VMDK)",
      Buffer.from("KDMV\x01\x00\x00\x00".padEnd(1024, "\0"), "latin1"),
      {},
      "INVALID_IMAGE_TAR",
      "The tar archive is not a valid image.",
    ],
    [
      "POSIX tar",
      archive("disk.raw", GIB, "posix"),
      {},
      "INVALID_IMAGE_TAR",
      "The tar archive format is not supported. Supported formats are: GNU and OLDGNU",
    ],
    [
      "the wrong member name",
      archive("tmp/output.img", GIB),
      {},
      "INVALID_IMAGE_TAR",
      "The tar archive contained a file that was named 'tmp/output.img'. It should be named 'disk.raw'.",
    ],
    [
      "an odd size",
      archive("disk.raw", GIB + 512),
      {},
      "INVALID_IMAGE_SIZE",
      `The disk image size must be a whole number of GB; disk.raw is ${GIB + 512} bytes.`,
    ],
    [
      "a gzip Content-Encoding (Compute gets the transcoded tar)",
      archive("disk.raw", GIB),
      { contentEncoding: "gzip" },
      "INVALID_IMAGE_TAR",
      "The tar archive is not a valid image.",
    ],
  ])("fails %s with Compute's code and message", async (label, data, metadata, code, message) => {
    const name = `bad-${label.replace(/[^a-z]+/g, "-").slice(0, 30)}`.replace(/-$/, "");
    await storage.bucket("b").file(`${name}.tar.gz`).save(data, { resumable: false, metadata });
    const op = await insert(name, `b/${name}.tar.gz`);
    expect(op["error"]).toEqual({
      errors: [
        {
          code,
          location: "rawDisk.source",
          message,
          errorDetails: [
            {
              errorInfo: {
                reason: code,
                domain: "compute.googleapis.com",
                metadatas: { source: `https://storage.googleapis.com/b/${name}.tar.gz` },
              },
            },
          ],
        },
      ],
    });
    expect(op["httpErrorStatusCode"]).toBe(400);
    expect((await image(name))["status"]).toBe("FAILED");
  });

  it("reads an object never uploaded as a valid archive, unless it matches the missing pattern", async () => {
    const [meta] = await storage.bucket("b").file("never/uploaded.tar.gz").getMetadata();
    const [bytes] = await storage.bucket("b").file("never/uploaded.tar.gz").download();
    expect(Number(meta.size)).toBe(bytes.length);
    const member = firstMember(gunzipSync(bytes));
    expect(member).toMatchObject({ format: "gnu", name: "disk.raw", size: VIRTUAL_DISK_GIB * GIB });
    expect((await insert("virtual", "b/never/uploaded.tar.gz"))["error"]).toBeUndefined();
    expect(await image("virtual")).toMatchObject({ status: "READY", diskSizeGb: "10" });

    await expect(storage.bucket("b").file("missing.tar.gz").getMetadata()).rejects.toMatchObject({
      code: 404,
    });
    const missing = await insert("gone", "b/missing.tar.gz");
    expect(missing["error"]).toMatchObject({ errors: [{ code: "RESOURCE_NOT_FOUND" }] });
    expect(missing["httpErrorStatusCode"]).toBe(404);
    // Virtual objects are not listed and cannot be deleted.
    const [files] = await storage.bucket("b").getFiles({ prefix: "never/" });
    expect(files).toEqual([]);
  });
});
