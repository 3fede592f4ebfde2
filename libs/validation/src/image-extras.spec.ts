import { create, fromJson, type MessageInitShape } from "@bufbuild/protobuf";
import { CreateImageRequestSchema, ImageSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { validateCreateImageRequest } from "./create-image-request";
import { EXTRA_LIMITS, base64Bytes } from "./image-extras";

type ImageInit = MessageInitShape<typeof ImageSchema>;
const RAW_KEY = Buffer.alloc(32, 7).toString("base64");
const RSA_KEY = Buffer.alloc(256, 9).toString("base64");
const KMS = "projects/keys-prod/locations/us/keyRings/ring/cryptoKeys/key";
const CERT = Buffer.from("a DER certificate").toString("base64");
const DISK = "projects/my-project/zones/us-central1-a/disks/web";

function violations(image: ImageInit): string[] {
  const req = create(CreateImageRequestSchema, {
    project: "my-project",
    image: { name: "web", sourceDisk: DISK, ...image } as ImageInit,
  });
  return validateCreateImageRequest(req).map((v) => `${v.field}: ${v.description}`);
}
const fields = (image: ImageInit) => violations(image).map((v) => v.split(":")[0]);

describe("source encryption keys", () => {
  it.each<[string, ImageInit]>([
    ["a raw key", { sourceDiskEncryptionKey: { rawKey: RAW_KEY } }],
    ["an RSA-wrapped key", { sourceDiskEncryptionKey: { rsaEncryptedKey: RSA_KEY } }],
    [
      "a KMS key with its service account",
      {
        sourceDiskEncryptionKey: {
          kmsKeyName: KMS,
          kmsKeyServiceAccount: "sa@keys-prod.iam.gserviceaccount.com",
        },
      },
    ],
    [
      "a KMS key for a source image",
      {
        sourceDisk: "",
        sourceImage: "projects/base-project/global/images/base",
        sourceImageEncryptionKey: { kmsKeyName: KMS },
      },
    ],
    [
      "a raw key for a source snapshot",
      {
        sourceDisk: "",
        sourceSnapshot: "global/snapshots/s",
        sourceSnapshotEncryptionKey: { rawKey: RAW_KEY },
      },
    ],
  ])("accepts %s for its own source", (_kind, image) => {
    expect(violations(image)).toEqual([]);
  });

  it("refuses a key for a source that is not set, naming the source", () => {
    expect(violations({ sourceImageEncryptionKey: { rawKey: RAW_KEY } })).toEqual([
      "image.source_image_encryption_key: is the key of image.source_image, which is not set; set source_image, or leave the key out",
    ]);
    expect(fields({ sourceSnapshotEncryptionKey: { rawKey: RAW_KEY } })).toEqual([
      "image.source_snapshot_encryption_key",
    ]);
  });

  it("wants exactly one of raw_key, rsa_encrypted_key and kms_key_name in every key", () => {
    expect(violations({ sourceDiskEncryptionKey: {} })).toEqual([
      "image.source_disk_encryption_key: sets no key; set exactly one of raw_key, rsa_encrypted_key and kms_key_name, or leave the key out",
    ]);
    expect(
      violations({ imageEncryptionKey: { rawKey: RAW_KEY, rsaEncryptedKey: RSA_KEY } }),
    ).toEqual([
      "image.image_encryption_key: sets raw_key and rsa_encrypted_key; a key is exactly one of them, keep one",
    ]);
  });

  it.each<[string, ImageInit["sourceDiskEncryptionKey"]]>([
    ["rsa_encrypted_key", { rsaEncryptedKey: "c2hvcnQ=" }],
    ["raw_key", { rawKey: "not base64!" }],
    ["kms_key_name", { kmsKeyName: "k" }],
    [
      "kms_key_service_account",
      { rawKey: RAW_KEY, kmsKeyServiceAccount: "sa@x.iam.gserviceaccount.com" },
    ],
  ])("names a key's bad %s", (field, key) => {
    expect(fields({ sourceDiskEncryptionKey: key })).toEqual([
      `image.source_disk_encryption_key.${field}`,
    ]);
  });
});

describe("shielded_instance_initial_state", () => {
  it("accepts Secure Boot keys of every file type", () => {
    expect(
      violations({
        shieldedInstanceInitialState: {
          pk: { content: CERT, fileType: "X509" },
          keks: [{ content: CERT, fileType: "X509" }],
          dbs: [{ content: CERT, fileType: "BIN" }, { content: CERT }],
          dbxs: [{ content: CERT, fileType: "UNDEFINED" }],
        },
      }),
    ).toEqual([]);
  });

  it("names each bad file: its type, empty or non-base64 content, and its size", () => {
    const big = Buffer.alloc(EXTRA_LIMITS.secureBootFileBytes + 1).toString("base64");
    expect(
      violations({
        shieldedInstanceInitialState: {
          pk: { content: CERT, fileType: "PEM" },
          keks: [{ content: "", fileType: "X509" }],
          dbs: [{ content: "@@@@", fileType: "BIN" }],
          dbxs: [{ content: big, fileType: "BIN" }],
        },
      }),
    ).toEqual([
      'image.shielded_instance_initial_state.pk.file_type: "PEM" is not a file type; use "X509" (a DER certificate), "BIN" (an EFI signature list) or "UNDEFINED"',
      "image.shielded_instance_initial_state.keks[0].content: is empty; set the key file's bytes in RFC 4648 base64",
      "image.shielded_instance_initial_state.dbs[0].content: is not RFC 4648 base64; encode the key file's bytes, e.g. base64 -w0 FILE",
      `image.shielded_instance_initial_state.dbxs[0].content: is ${EXTRA_LIMITS.secureBootFileBytes + 1} bytes; a Secure Boot file is at most ${EXTRA_LIMITS.secureBootFileBytes}`,
    ]);
  });

  it("bounds the number of files and their total size", () => {
    const file = { content: Buffer.alloc(60 * 1024).toString("base64"), fileType: "BIN" };
    expect(fields({ shieldedInstanceInitialState: { dbxs: Array(5).fill(file) } })).toEqual([
      "image.shielded_instance_initial_state",
    ]);
    const tiny = { content: CERT, fileType: "X509" };
    expect(
      fields({
        shieldedInstanceInitialState: { dbs: Array(EXTRA_LIMITS.secureBootFiles + 1).fill(tiny) },
      }),
    ).toEqual(["image.shielded_instance_initial_state.dbs"]);
  });

  it("takes at most one platform key: a list for pk does not parse", () => {
    expect(() =>
      fromJson(ImageSchema, { shieldedInstanceInitialState: { pk: [{ content: CERT }] } }),
    ).toThrow();
  });
});

describe("deprecated", () => {
  it("accepts each state, RFC 3339 dates and an image as replacement", () => {
    for (const state of ["ACTIVE", "DEPRECATED", "OBSOLETE", "DELETED"])
      expect(violations({ deprecated: { state } })).toEqual([]);
    expect(
      violations({
        deprecated: {
          state: "ACTIVE",
          deprecated: "2027-01-01T00:00:00Z",
          obsolete: "2027-06-30T12:00:00.5+02:00",
          deleted: "2028-01-01T00:00:00Z",
          replacement: "projects/my-project/global/images/web-2027",
        },
      }),
    ).toEqual([]);
  });

  it("names a bad state, each bad date and a bad replacement", () => {
    expect(
      fields({
        deprecated: {
          state: "RETIRED",
          deprecated: "2027-01-01",
          obsolete: "tomorrow",
          deleted: "2027-02-30T00:00:00Z",
          replacement: "web-2027",
        },
      }),
    ).toEqual([
      "image.deprecated.state",
      "image.deprecated.deprecated",
      "image.deprecated.obsolete",
      "image.deprecated.deleted",
      "image.deprecated.replacement",
    ]);
    expect(violations({ deprecated: { replacement: "global/images/web" } })).toEqual([
      "image.deprecated.state: is required with deprecated; use one of ACTIVE, DELETED, DEPRECATED, OBSOLETE",
    ]);
  });
});

describe("params.resource_manager_tags", () => {
  it("accepts ids and namespaced names", () => {
    expect(
      violations({
        params: {
          resourceManagerTags: {
            "tagKeys/123": "tagValues/456",
            "123456789/env": "prod",
            "my-project/team": "my-project/team/edge",
          },
        },
      }),
    ).toEqual([]);
  });

  it("names each bad key and value, and bounds the count", () => {
    expect(
      fields({ params: { resourceManagerTags: { env: "prod", "tagKeys/1": "tagValues/x" } } }),
    ).toEqual([
      'image.params.resource_manager_tags["env"]',
      'image.params.resource_manager_tags["tagKeys/1"]',
    ]);
    const many = Object.fromEntries(
      Array.from({ length: EXTRA_LIMITS.resourceManagerTags + 1 }, (_, i) => [
        `tagKeys/${i + 1}`,
        "v",
      ]),
    );
    expect(fields({ params: { resourceManagerTags: many } })).toEqual([
      "image.params.resource_manager_tags",
    ]);
  });
});

describe("source_type", () => {
  it("is RAW or empty", () => {
    expect(violations({ sourceType: "RAW" })).toEqual([]);
    expect(fields({ sourceType: "QCOW2" })).toEqual(["image.source_type"]);
  });
});

describe("every mistake at once", () => {
  it("reports every field's problem in one answer", () => {
    expect(
      fields({
        sourceImageEncryptionKey: {},
        shieldedInstanceInitialState: { pk: { content: "", fileType: "X" } },
        deprecated: { state: "" },
        sourceType: "X",
      }),
    ).toHaveLength(6);
  });
});

describe("base64Bytes", () => {
  it("decodes lengths and refuses what is not base64", () => {
    expect(base64Bytes(RAW_KEY)).toBe(32);
    expect(base64Bytes("YQ==")).toBe(1);
    expect(base64Bytes("YWI=")).toBe(2);
    expect(base64Bytes("a")).toBeUndefined();
  });
});
