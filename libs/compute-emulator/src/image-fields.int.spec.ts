// Every writable Image field through the emulator as Compute answers it, driven with Google's own
// client (@googleapis/compute): what images.get returns for keys, Secure Boot state, deprecation
// and tags, and what an insert is refused for.
import { compute, type compute_v1 } from "@googleapis/compute";
import { createHash, randomUUID } from "node:crypto";
import { OAuth2Client } from "google-auth-library";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startComputeEmulator, type ComputeEmulator } from "./index";

const PROJECT = "fields-project";
const SOURCE = "https://storage.googleapis.com/my-bucket/images/web.tar.gz";
const RAW_KEY = Buffer.alloc(32, 5).toString("base64");
const OTHER_KEY = Buffer.alloc(32, 6).toString("base64");
const RSA_KEY = Buffer.alloc(256, 7).toString("base64");
const KMS = "projects/keys-prod/locations/us/keyRings/ring/cryptoKeys/key";
const DISK = `projects/${PROJECT}/zones/us-central1-a/disks/build`;
const CERT = Buffer.from("DER bytes of a certificate").toString("base64");
const sha256 = (key: string) =>
  createHash("sha256").update(Buffer.from(key, "base64")).digest("base64");

let emulator: ComputeEmulator;
let api: compute_v1.Compute;

beforeAll(async () => {
  emulator = await startComputeEmulator({ operationDurationMs: 0, staticTokens: ["t"] });
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: "t", expiry_date: Date.now() + 3_600_000 });
  api = compute({ version: "v1", rootUrl: `${emulator.url}/`, auth });
});
afterEach(() => {
  emulator.admin.reset();
});
afterAll(async () => {
  await emulator.close();
});

async function insert(body: compute_v1.Schema$Image): Promise<compute_v1.Schema$Image> {
  await api.images.insert({ project: PROJECT, requestId: randomUUID(), requestBody: body });
  return (await api.images.get({ project: PROJECT, image: body.name ?? "" })).data;
}
async function refusal(body: compute_v1.Schema$Image): Promise<string> {
  try {
    await api.images.insert({ project: PROJECT, requestId: randomUUID(), requestBody: body });
  } catch (e) {
    const data = (e as { response?: { status: number; data: { error: { message: string } } } })
      .response;
    return `${data?.status ?? "?"} ${data?.data.error.message ?? String(e)}`;
  }
  throw new Error("expected the insert to be refused");
}

describe("the emulator's Image fields", () => {
  it("stores a customer-supplied key as its sha256, never the key, raw or RSA-wrapped", async () => {
    const raw = await insert({
      name: "raw",
      rawDisk: { source: SOURCE },
      imageEncryptionKey: { rawKey: RAW_KEY },
    });
    expect(raw.imageEncryptionKey).toEqual({ sha256: sha256(RAW_KEY) });
    const rsa = await insert({
      name: "rsa",
      rawDisk: { source: SOURCE },
      imageEncryptionKey: { rsaEncryptedKey: RSA_KEY },
    });
    expect(rsa.imageEncryptionKey).toEqual({ sha256: sha256(RSA_KEY) });
    expect(JSON.stringify(emulator.admin.state())).not.toContain(RAW_KEY);
    expect(JSON.stringify(emulator.admin.state())).not.toContain(RSA_KEY);
  });

  it("returns Secure Boot keys and the deprecation status as given, and keeps no input-only params", async () => {
    const shieldedInstanceInitialState = {
      pk: { content: CERT, fileType: "X509" },
      keks: [{ content: CERT, fileType: "X509" }],
      dbs: [{ content: CERT, fileType: "BIN" }],
      dbxs: [{ content: CERT, fileType: "UNDEFINED" }],
    };
    const deprecated = {
      state: "DEPRECATED",
      replacement: `projects/${PROJECT}/global/images/web-2`,
      obsolete: "2027-06-30T00:00:00Z",
    };
    const image = await insert({
      name: "web",
      rawDisk: { source: SOURCE },
      shieldedInstanceInitialState,
      deprecated,
      params: { resourceManagerTags: { "tagKeys/1": "tagValues/2" } },
      sourceType: "RAW",
    });
    expect(image.shieldedInstanceInitialState).toEqual(shieldedInstanceInitialState);
    expect(image.deprecated).toEqual(deprecated);
    expect(image.params).toBeUndefined();
    expect(emulator.admin.state().insertParams).toEqual({
      [`${PROJECT}/web`]: { resourceManagerTags: { "tagKeys/1": "tagValues/2" } },
    });
    expect(image.sourceType).toBe("RAW");
  });

  it("needs the key of an encrypted source, and refuses a key the source is not encrypted with", async () => {
    emulator.admin.encryptSource(DISK, { rawKey: RAW_KEY });
    expect(await refusal({ name: "a", sourceDisk: DISK })).toMatch(
      /^400 The resource '.*disks\/build' is encrypted with a customer-supplied encryption key/,
    );
    expect(
      await refusal({
        name: "b",
        sourceDisk: DISK,
        sourceDiskEncryptionKey: { rawKey: OTHER_KEY },
      }),
    ).toMatch(/^400 .*sourceDiskEncryptionKey'.*does not match/);
    const image = await insert({
      name: "c",
      sourceDisk: DISK,
      sourceDiskEncryptionKey: { rawKey: RAW_KEY },
    });
    expect(image.sourceDiskEncryptionKey).toEqual({ sha256: sha256(RAW_KEY) });
    // An unencrypted source with a key, and a key without its source.
    expect(
      await refusal({
        name: "d",
        sourceSnapshot: `projects/${PROJECT}/global/snapshots/plain`,
        sourceSnapshotEncryptionKey: { rawKey: RAW_KEY },
      }),
    ).toMatch(/^400 .*sourceSnapshotEncryptionKey'.*is not encrypted/);
    expect(
      await refusal({
        name: "e",
        rawDisk: { source: SOURCE },
        sourceImageEncryptionKey: { rawKey: RAW_KEY },
      }),
    ).toMatch(/^400 .*sourceImageEncryptionKey'.*'sourceImage' is not set/);
  });

  it("opens an image it made with a key only with that key, and a KMS source with its key name", async () => {
    await insert({
      name: "base",
      rawDisk: { source: SOURCE },
      imageEncryptionKey: { rawKey: RAW_KEY },
    });
    const base = `global/images/base`;
    expect(await refusal({ name: "x", sourceImage: base })).toMatch(/customer-supplied/);
    expect(
      (
        await insert({
          name: "y",
          sourceImage: base,
          sourceImageEncryptionKey: { rawKey: RAW_KEY },
        })
      ).status,
    ).toBe("READY");
    emulator.admin.encryptSource(`projects/${PROJECT}/global/snapshots/kms`, { kmsKeyName: KMS });
    const fromKms = await insert({
      name: "z",
      sourceSnapshot: `projects/${PROJECT}/global/snapshots/kms`,
      sourceSnapshotEncryptionKey: { kmsKeyName: `${KMS}/cryptoKeyVersions/3` },
    });
    expect(fromKms.sourceSnapshotEncryptionKey).toEqual({
      kmsKeyName: `${KMS}/cryptoKeyVersions/3`,
    });
  });

  it("refuses an unknown file type, deprecation state, source type or field, as Compute does", async () => {
    expect(
      await refusal({
        name: "f",
        rawDisk: { source: SOURCE },
        shieldedInstanceInitialState: { pk: { content: CERT, fileType: "PEM" } },
      }),
    ).toBe(
      `400 Invalid JSON payload received. Invalid value at 'resource.shieldedInstanceInitialState.pk.fileType' (TYPE_ENUM), "PEM"`,
    );
    expect(
      await refusal({ name: "g", rawDisk: { source: SOURCE }, deprecated: { state: "GONE" } }),
    ).toMatch(/resource\.deprecated\.state/);
    expect(await refusal({ name: "h", rawDisk: { source: SOURCE }, sourceType: "QCOW2" })).toMatch(
      /resource\.sourceType/,
    );
    expect(
      await refusal({
        name: "i",
        rawDisk: { source: SOURCE },
        params: { other: 1 } as compute_v1.Schema$ImageParams,
      }),
    ).toMatch(/Unknown name "other" at 'resource.params'/);
  });
});

describe("the emulator's rate quotas", () => {
  it("refuses a call past the project's quota as Compute does, and the call takes no effect", async () => {
    emulator.admin.configure({ quotaWritesPerMinute: 2 });
    try {
      await insert({ name: "q1", rawDisk: { source: SOURCE } });
      await insert({ name: "q2", rawDisk: { source: SOURCE } });
      expect(await refusal({ name: "q3", rawDisk: { source: SOURCE } })).toMatch(
        /^403 Quota exceeded for quota metric 'Queries'/,
      );
      expect(emulator.admin.state().images.map((i) => i.name)).not.toContain("q3");
      expect(emulator.admin.state().quotaRefusals).toEqual({ [PROJECT]: { write: 1, read: 0 } });
    } finally {
      emulator.admin.configure({ quotaWritesPerMinute: 0 });
    }
  });
});
