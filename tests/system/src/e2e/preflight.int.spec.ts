// The raw disk pre-flight end to end: the built gateway (PREFLIGHT on, its default) reads each
// archive from the emulator's Cloud Storage with the metadata server's tokens, and refuses a bad
// one in the CreateImage answer, before anything is stored or inserted. Compute's own check of the
// same archives, minutes later in real life, is what the pre-flight saves callers from.
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Storage } from "@google-cloud/storage";
import { diskSectors, ESP_GUID, tarHeader } from "@imagesvc/preflight/testing";
import { ImageService, Operation_Status, PreconditionFailureSchema } from "@imagesvc/proto";
import { freePort } from "@imagesvc/testing";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drain, startStack, type Stack } from "./stack.test-helper";

const GIB = 1024 ** 3;
const PROJECT = "my-project";
let stack: Stack;
let storage: Storage;
let gateway: Awaited<ReturnType<Stack["spawnGateway"]>>;
let client: Client<typeof ImageService>;

beforeAll(async () => {
  stack = await startStack({ emulator: { operationDurationMs: 300 } });
  await stack.startWorker();
  gateway = await stack.spawnGateway();
  client = clientOf(gateway.url);
  process.env["GCE_METADATA_HOST"] = stack.emulator.metadataHost;
  process.env["METADATA_SERVER_DETECTION"] = "assume-present";
  storage = new Storage({ apiEndpoint: stack.emulator.url, useAuthWithCustomEndpoint: true });
}, 60_000);
afterAll(async () => {
  await gateway.app.stop();
  await stack.close();
});

const clientOf = (baseUrl: string) =>
  createClient(ImageService, createConnectTransport({ baseUrl, httpVersion: "2" }));

const archive = (
  name: string,
  size: number,
  {
    format = "gnu",
    sectors = diskSectors("mbr"),
  }: { format?: "gnu" | "posix"; sectors?: Buffer } = {},
) => gzipSync(Buffer.concat([tarHeader(name, size, { format }), sectors]));

async function upload(object: string, data: Buffer, metadata: Record<string, string> = {}) {
  await storage.bucket("my-bucket").file(object).save(data, { resumable: false, metadata });
  return `https://storage.googleapis.com/my-bucket/${object}`;
}

const request = (name: string, source: string, uefi = false) => ({
  project: PROJECT,
  image: {
    name,
    rawDisk: { source },
    guestOsFeatures: uefi ? [{ type: "UEFI_COMPATIBLE" }] : [],
  },
});

async function done(c: Client<typeof ImageService>, name: string) {
  const versions = await drain(c.watchOperation({ project: PROJECT, operation: name }));
  const last = versions.at(-1);
  expect(last?.status).toBe(Operation_Status.DONE);
  return last;
}

describe("the raw disk pre-flight", () => {
  it("accepts a good archive, warns of an ESP without UEFI_COMPATIBLE, and keeps the warning to DONE", async () => {
    const source = await upload(
      "good-esp.tar.gz",
      archive("disk.raw", 2 * GIB, { sectors: diskSectors("gpt", ESP_GUID) }),
    );
    const op = await client.createImage(request("good-esp", source));
    expect(op.warnings.map((w) => w.code)).toEqual(["UEFI_COMPATIBLE_MISSING"]);
    const last = await done(client, op.name);
    expect(last?.error).toBeUndefined();
    expect(last?.warnings.map((w) => w.code)).toEqual(["UEFI_COMPATIBLE_MISSING"]);
    // With the feature listed, no warning.
    const uefi = await client.createImage(request("good-uefi", source, true));
    expect(uefi.warnings).toEqual([]);
    expect((await done(client, uefi.name))?.error).toBeUndefined();
  });

  it.each([
    [
      "a VMDK",
      () => Buffer.from("KDMV\x01\x00\x00\x00".padEnd(4096, "\0"), "latin1"),
      {},
      "INVALID_IMAGE_TAR",
      /looks like a VMDK/,
    ],
    [
      "a POSIX tar",
      () => archive("disk.raw", GIB, { format: "posix" }),
      {},
      "INVALID_IMAGE_TAR",
      /Supported formats are: GNU and OLDGNU/,
    ],
    [
      "a wrong member name",
      () => archive("tmp/output.img", GIB),
      {},
      "INVALID_IMAGE_TAR",
      /named 'tmp\/output.img'. It should be named 'disk.raw'/,
    ],
    [
      "an odd size",
      () => archive("disk.raw", GIB + 4096),
      {},
      "INVALID_IMAGE_SIZE",
      /qemu-img resize -f raw disk.raw 2G/,
    ],
    [
      "a transcoded object",
      () => archive("disk.raw", GIB),
      { contentEncoding: "gzip" },
      "INVALID_IMAGE_TAR",
      /--clear-content-encoding/,
    ],
    [
      "no partition table",
      () => archive("disk.raw", GIB, { sectors: diskSectors("blank") }),
      {},
      "INVALID_IMAGE_DISK",
      /qemu-img convert -O raw/,
    ],
  ])(
    "refuses %s at once, with the check, what it found and the fix; nothing is stored",
    async (label, data, metadata, code, fix) => {
      const object = `bad/${label.replace(/[^a-z]+/g, "-")}.tar.gz`;
      const source = await upload(object, data(), metadata);
      const name = `bad-${label.replace(/[^a-z]+/g, "-")}`.replace(/-+$/, "").replace(/--+/g, "-");
      const started = performance.now();
      const error = await client.createImage(request(name, source)).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      const ms = performance.now() - started;
      expect(error?.code).toBe(Code.FailedPrecondition);
      expect(error?.rawMessage).toMatch(/^image\.raw_disk\.source failed the pre-flight check "/);
      expect(error?.rawMessage).toMatch(fix);
      const [detail] = error?.findDetails(PreconditionFailureSchema) ?? [];
      expect(detail?.violations).toEqual([
        expect.objectContaining({ type: code, subject: source }) as unknown,
      ]);
      expect(ms).toBeLessThan(1000); // the answer, not an operation failing minutes later
      process.stdout.write(`PREFLIGHT ${label}: refused in ${ms.toFixed(0)} ms\n`);
      const listed = await client.listOperations({ project: PROJECT });
      expect(listed.items.map((o) => o.targetLink)).not.toContainEqual(
        expect.stringContaining(name),
      );
      expect(stack.emulator.admin.state().images.map((i) => i.name)).not.toContain(name);
    },
  );

  it("refuses a missing object, and passes one never uploaded as the emulator keeps it valid", async () => {
    const missing = await client
      .createImage(request("gone", "https://storage.googleapis.com/my-bucket/missing.tar.gz"))
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(missing?.code).toBe(Code.FailedPrecondition);
    expect(missing?.rawMessage).toContain('"the object exists"');
    const virtual = await client.createImage(
      request("never-uploaded", "https://storage.googleapis.com/my-bucket/web.tar.gz"),
    );
    expect((await done(client, virtual.name))?.error).toBeUndefined();
  });

  it("answers a retry of an accepted request with its operation, whatever the object is now", async () => {
    const source = await upload("retry.tar.gz", archive("disk.raw", GIB));
    const req = {
      ...request("retried", source),
      requestId: "6f1c1d52-8f7e-4a8e-9a51-3c1f0e0b6a11",
    };
    const first = await client.createImage(req);
    await storage
      .bucket("my-bucket")
      .file("retry.tar.gz")
      .save(Buffer.from("not an archive"), { resumable: false });
    const again = await client.createImage(req);
    expect(again.name).toBe(first.name);
  });

  it("with PREFLIGHT=off, or Cloud Storage out of reach, accepts the archive and Compute's own check fails the operation", async () => {
    const source = await upload("late.tar.gz", archive("tmp/output.img", GIB));
    const off = await stack.spawnGateway({ PREFLIGHT: "off" });
    const unreachable = await stack.spawnGateway({
      STORAGE_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
      PREFLIGHT_TIMEOUT_MS: "2000",
    });
    try {
      const a = await clientOf(off.url).createImage(request("late-off", source));
      expect(a.warnings).toEqual([]);
      const b = await clientOf(unreachable.url).createImage(request("late-unchecked", source));
      expect(b.warnings.map((w) => w.code)).toEqual(["PREFLIGHT_UNCHECKED"]);
      for (const op of [a, b]) {
        const last = await done(client, op.name);
        expect(last?.error?.errors).toEqual([
          expect.objectContaining({
            code: "INVALID_IMAGE_TAR",
            message:
              "The tar archive contained a file that was named 'tmp/output.img'. It should be named 'disk.raw'.",
          }) as unknown,
        ]);
        // Compute's structured details are kept, not dropped.
        expect(last?.error?.errors[0]?.errorDetails[0]?.errorInfo).toMatchObject({
          reason: "INVALID_IMAGE_TAR",
          domain: "compute.googleapis.com",
          metadatas: { source },
        });
      }
    } finally {
      await off.app.stop();
      await unreachable.app.stop();
    }
  });
});
