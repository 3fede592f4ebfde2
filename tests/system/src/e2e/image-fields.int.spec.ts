// Every writable field of images.insert, end to end: a Compute images.insert body pasted into
// CreateImage over Connect JSON (plain HTTP, Compute's field names), and the same request over
// gRPC (binary), each reaching DONE with the image the emulator holds as Compute would hold it.
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CreateImageRequestSchema, ImageService, Operation_Status } from "@imagesvc/proto";
import { loadSecretBox } from "@imagesvc/secrets";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drain, startStack, type Stack } from "./stack.test-helper";

const dir = mkdtempSync(join(tmpdir(), "image-fields-"));
const keyFile = join(dir, "secrets.key");
writeFileSync(keyFile, randomBytes(32).toString("base64"));
const SOURCE = "https://storage.googleapis.com/my-bucket/images/web.tar.gz";
const RAW_KEY = randomBytes(32).toString("base64");
const RSA_KEY = randomBytes(256).toString("base64");
const KMS = "projects/my-project/locations/us/keyRings/ring/cryptoKeys/key";
const CERT = randomBytes(900).toString("base64");
const DISK = "projects/my-project/zones/us-central1-a/disks/build";
const KMS_IMAGE = "projects/my-project/global/images/kms-base";
const RSA_SNAPSHOT = "projects/my-project/global/snapshots/rsa-snap";
const sha256 = (key: string) =>
  createHash("sha256").update(Buffer.from(key, "base64")).digest("base64");
const shielded = {
  pk: { content: CERT, fileType: "X509" },
  keks: [{ content: CERT, fileType: "X509" }],
  dbs: [
    { content: CERT, fileType: "BIN" },
    { content: CERT, fileType: "X509" },
  ],
  dbxs: [{ content: CERT, fileType: "BIN" }],
};
const deprecated = {
  state: "DEPRECATED",
  replacement: "projects/my-project/global/images/web-next",
  deprecated: "2027-01-01T00:00:00Z",
  obsolete: "2027-06-30T00:00:00Z",
  deleted: "2028-01-01T00:00:00Z",
};

/** Per field: the images.insert body (without its name), and what images.get must hold. */
const CASES: [string, Record<string, unknown>, Record<string, unknown>][] = [
  [
    "shielded",
    { rawDisk: { source: SOURCE }, shieldedInstanceInitialState: shielded },
    { shieldedInstanceInitialState: shielded },
  ],
  [
    "disk-key",
    { sourceDisk: DISK, sourceDiskEncryptionKey: { rawKey: RAW_KEY } },
    { sourceDiskEncryptionKey: { sha256: sha256(RAW_KEY) } },
  ],
  [
    "image-kms",
    { sourceImage: KMS_IMAGE, sourceImageEncryptionKey: { kmsKeyName: KMS } },
    { sourceImageEncryptionKey: { kmsKeyName: KMS } },
  ],
  [
    "snapshot-rsa",
    { sourceSnapshot: RSA_SNAPSHOT, sourceSnapshotEncryptionKey: { rsaEncryptedKey: RSA_KEY } },
    { sourceSnapshotEncryptionKey: { sha256: sha256(RSA_KEY) } },
  ],
  [
    "rsa-image-key",
    { rawDisk: { source: SOURCE }, imageEncryptionKey: { rsaEncryptedKey: RSA_KEY } },
    { imageEncryptionKey: { sha256: sha256(RSA_KEY) } },
  ],
  ["deprecated", { rawDisk: { source: SOURCE }, deprecated }, { deprecated }],
  [
    "tags",
    {
      rawDisk: { source: SOURCE },
      params: { resourceManagerTags: { "tagKeys/123": "tagValues/456", "my-project/env": "prod" } },
    },
    { params: undefined },
  ],
  ["source-type", { rawDisk: { source: SOURCE }, sourceType: "RAW" }, { sourceType: "RAW" }],
];

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    emulator: { operationDurationMs: 300, waitCapMs: 100 },
    gateway: { secrets: loadSecretBox(keyFile) },
  });
  await stack.startWorker({ SECRETS_KEY_FILE: keyFile });
  stack.emulator.admin.encryptSource(DISK, { rawKey: RAW_KEY });
  stack.emulator.admin.encryptSource(KMS_IMAGE, { kmsKeyName: KMS });
  stack.emulator.admin.encryptSource(RSA_SNAPSHOT, { rsaEncryptedKey: RSA_KEY });
});
afterAll(async () => {
  await stack.close();
  rmSync(dir, { recursive: true, force: true });
});

/** CreateImage over Connect JSON on HTTP/1.1, the body as Compute's docs spell it. */
async function overConnectJson(body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${stack.gateway.url}/computeimages.v1.ImageService/CreateImage`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ project: "my-project", image: body }),
  });
  const json = (await res.json()) as { name?: string; message?: string };
  expect(res.status, json.message).toBe(200);
  return json.name ?? "";
}

async function overGrpc(body: Record<string, unknown>): Promise<string> {
  const client = createClient(ImageService, createGrpcTransport({ baseUrl: stack.gateway.url }));
  const req = fromJson(CreateImageRequestSchema, {
    project: "my-project",
    image: body as JsonValue,
  });
  return (await client.createImage(req)).name;
}

describe("every writable field of images.insert", () => {
  for (const [label, body, stored] of CASES)
    for (const [protocol, call] of [
      ["Connect JSON", overConnectJson],
      ["gRPC", overGrpc],
    ] as const)
      it(`${label} over ${protocol}: DONE, and Compute holds what it would`, async () => {
        const name = `${label}-${protocol === "gRPC" ? "grpc" : "json"}`;
        const operation = await call({ name, ...body });
        const done = (
          await drain(stack.client.watchOperation({ project: "my-project", operation }))
        ).at(-1);
        expect(done?.status).toBe(Operation_Status.DONE);
        expect(done?.error).toBeUndefined();
        const image = stack.emulator.admin.state().images.find((i) => i.name === name);
        expect(image?.status).toBe("READY");
        for (const [field, value] of Object.entries(stored))
          expect(image?.[field], field).toEqual(value);
        // Input-only params reach Compute with the insert, and are never stored on the image.
        expect(stack.emulator.admin.state().insertParams[`my-project/${name}`]).toEqual(
          body["params"],
        );
        expect(JSON.stringify(image)).not.toContain(RAW_KEY);
        expect(JSON.stringify(image)).not.toContain(RSA_KEY);
      });
});
