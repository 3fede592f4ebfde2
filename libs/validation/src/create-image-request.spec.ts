import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { CreateImageRequestSchema, type ImageSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { validateCreateImageRequest } from "./create-image-request";

type ImageInit = MessageInitShape<typeof ImageSchema>;
const SOURCE = "https://storage.googleapis.com/my-bucket/images/web.tar.gz";

/** A valid request with `image` fields replaced (a key set to undefined removes the field). */
function request(image: ImageInit = {}, rest: { project?: string; requestId?: string } = {}) {
  return create(CreateImageRequestSchema, {
    project: rest.project ?? "my-project",
    requestId: rest.requestId ?? "",
    image: { name: "web-2026-11-27", rawDisk: { source: SOURCE }, ...image } as ImageInit,
  });
}

/** The violations as `field: description` strings, for readable failures. */
const violations = (...args: Parameters<typeof request>) =>
  validateCreateImageRequest(request(...args)).map((v) => `${v.field}: ${v.description}`);
const fields = (...args: Parameters<typeof request>) =>
  validateCreateImageRequest(request(...args)).map((v) => v.field);

describe("validateCreateImageRequest", () => {
  it("accepts a minimal valid request", () => {
    expect(violations()).toEqual([]);
  });

  describe("project", () => {
    it.each([
      ["my-project"],
      ["abcdef"],
      ["a".repeat(30)],
      ["p12345"],
      ["example.com:my-project"],
      ["corp.example.co.uk:build-images"],
    ])("accepts %s", (project) => {
      expect(fields({}, { project })).toEqual([]);
    });

    it.each([
      ["", /is required/],
      ["abcde", /5 characters long/],
      ["a".repeat(31), /31 characters long/],
      ["My-Project", /uppercase/],
      ["1project", /start with a lowercase letter/],
      ["my-project-", /must not end with a hyphen/],
      ["my_project", /characters other than/],
      ["projéct-x", /characters other than/],
      ["example..com:my-project", /invalid domain/],
      [":my-project", /invalid domain/],
      ["example.com:My-Project", /uppercase/],
    ])("rejects %j", (project, message) => {
      const found = validateCreateImageRequest(request({}, { project }));
      expect(found.map((v) => v.field)).toEqual(["project"]);
      expect(found[0]?.description).toMatch(message);
    });
  });

  describe("image.name", () => {
    it.each([["a"], ["a".repeat(63)], ["web-1"], ["x9"], ["a-b-c"]])("accepts %s", (name) => {
      expect(fields({ name })).toEqual([]);
    });

    it.each([
      ["", /is required/],
      ["a".repeat(64), /64 characters long; the limit is 63/],
      ["web-", /must not end with a hyphen/],
      ["1web", /must start with a lowercase letter/],
      ["-web", /must start with a lowercase letter/],
      ["Web", /uppercase letters; use "web"/],
      ["Web-", /uppercase letters; use lowercase/],
      ["wéb", /contains "é"/],
      ["web_1", /contains "_"/],
      ["web image", /contains " "/],
      ["ᚠ", /contains "ᚠ"/],
    ])("rejects %j", (name, message) => {
      const found = validateCreateImageRequest(request({ name }));
      expect(found.map((v) => v.field)).toEqual(["image.name"]);
      expect(found[0]?.description).toMatch(message);
      expect(found[0]?.description).toMatch(/e\.g\. "web-2026-11-27"/);
    });
  });

  it("requires the image", () => {
    const req = create(CreateImageRequestSchema, { project: "my-project" });
    expect(validateCreateImageRequest(req).map((v) => v.field)).toEqual(["image"]);
  });

  describe("sources", () => {
    it.each([
      [{ rawDisk: undefined, sourceDisk: "zones/us-central1-a/disks/d1" }],
      [{ rawDisk: undefined, sourceDisk: "projects/my-project/zones/europe-west4-b/disks/data" }],
      [{ rawDisk: undefined, sourceDisk: "projects/my-project/regions/us-central1/disks/data" }],
      [
        {
          rawDisk: undefined,
          sourceDisk:
            "https://compute.googleapis.com/compute/v1/projects/my-project/zones/us-east1-b/disks/d",
        },
      ],
      [
        {
          rawDisk: undefined,
          sourceDisk:
            "https://www.googleapis.com/compute/v1/projects/my-project/zones/us-east1-b/disks/d",
        },
      ],
      [
        {
          rawDisk: undefined,
          sourceImage: "projects/debian-cloud/global/images/debian-12-bookworm-v20260101",
        },
      ],
      [{ rawDisk: undefined, sourceImage: "projects/debian-cloud/global/images/family/debian-12" }],
      [{ rawDisk: undefined, sourceImage: "global/images/base" }],
      [
        {
          rawDisk: undefined,
          sourceImage:
            "https://compute.googleapis.com/compute/v1/projects/p-123456/global/images/family/base",
        },
      ],
      [{ rawDisk: undefined, sourceSnapshot: "projects/my-project/global/snapshots/snap-1" }],
      [{ rawDisk: undefined, sourceSnapshot: "global/snapshots/snap-1" }],
      [
        {
          rawDisk: undefined,
          sourceSnapshot:
            "https://compute.googleapis.com/compute/v1/projects/example.com:proj-1/global/snapshots/s",
        },
      ],
    ] as ImageInit[][])("accepts %j", (image) => {
      expect(violations(image)).toEqual([]);
    });

    it("requires one source and names all four", () => {
      const found = validateCreateImageRequest(request({ rawDisk: undefined }));
      expect(found.map((v) => v.field)).toEqual(["image.raw_disk.source"]);
      expect(found[0]?.description).toMatch(
        /exactly one of image.raw_disk.source .* image.source_disk, image.source_image or image.source_snapshot/,
      );
    });

    it("counts a raw_disk without a source as no source", () => {
      expect(fields({ rawDisk: { containerType: "TAR" } })).toEqual(["image.raw_disk.source"]);
    });

    it("reports every source when more than one is set", () => {
      const found = validateCreateImageRequest(
        request({ sourceImage: "global/images/base", sourceSnapshot: "global/snapshots/s" }),
      );
      expect(found.map((v) => v.field)).toEqual([
        "image.raw_disk.source",
        "image.source_image",
        "image.source_snapshot",
      ]);
      expect(found[0]?.description).toMatch(
        /conflicts with image.source_image, image.source_snapshot/,
      );
    });

    it.each([
      [
        "sourceDisk",
        "image.source_disk",
        "disks/d1",
        /is not a reference to a disk. Use "projects\/PROJECT\/zones\/ZONE\/disks\/DISK"/,
      ],
      [
        "sourceDisk",
        "image.source_disk",
        "zones/US-central1/disks/d1",
        /names a disk, but its zone "US-central1" is not valid/,
      ],
      [
        "sourceDisk",
        "image.source_disk",
        "projects/My/zones/us-central1-a/disks/d",
        /its project id "My" is not valid/,
      ],
      [
        "sourceDisk",
        "image.source_disk",
        "https://compute.googleapis.com/compute/v1/zones/us-central1-a/disks/d",
        /is not a reference to a disk/,
      ],
      ["sourceImage", "image.source_image", "debian-12", /is not a reference to an image/],
      [
        "sourceImage",
        "image.source_image",
        "projects/debian-cloud/global/images/Debian",
        /its image name "Debian" is not valid/,
      ],
      [
        "sourceImage",
        "image.source_image",
        "projects/debian-cloud/global/images/family/",
        /its image family "" is not valid/,
      ],
      [
        "sourceImage",
        "image.source_image",
        "https://example.com/compute/v1/projects/p-1234/global/images/i",
        /is not a/,
      ],
      [
        "sourceSnapshot",
        "image.source_snapshot",
        "projects/p-1234/global/images/i",
        /is not a reference to a snapshot/,
      ],
      [
        "sourceSnapshot",
        "image.source_snapshot",
        "global/snapshots/snap_1",
        /snapshot name "snap_1" is not valid/,
      ],
    ])("rejects %s %j", (key, field, value, message) => {
      const found = validateCreateImageRequest(request({ rawDisk: undefined, [key]: value }));
      expect(found.map((v) => v.field)).toEqual([field]);
      expect(found[0]?.description).toMatch(message);
    });
  });

  describe("image.raw_disk", () => {
    it.each([
      ["https://storage.googleapis.com/my-bucket/disk.tar.gz"],
      ["https://storage.googleapis.com/my-bucket/folder/sub/disk.tar.gz"],
      ["https://storage.googleapis.com/my.bucket.example.com/disk.tar.gz"],
      ["https://storage.googleapis.com/b_1/disk image.tar.gz"],
      ["https://storage.googleapis.com/abc/日本語.tar.gz"],
    ])("accepts the source %s", (source) => {
      expect(fields({ rawDisk: { source } })).toEqual([]);
    });

    it("rejects a gs:// URL and gives the https:// URL to use", () => {
      const found = validateCreateImageRequest(
        request({ rawDisk: { source: "gs://my-bucket/images/web.tar.gz" } }),
      );
      expect(found).toEqual([
        {
          field: "image.raw_disk.source",
          description:
            'Compute does not accept gs:// URLs; use "https://storage.googleapis.com/my-bucket/images/web.tar.gz"',
        },
      ]);
    });

    it.each([
      ["http://storage.googleapis.com/b-1/disk.tar.gz", /is not a Cloud Storage URL/],
      ["https://storage.cloud.google.com/b-1/disk.tar.gz", /is not a Cloud Storage URL/],
      ["storage.googleapis.com/b-1/disk.tar.gz", /is not a Cloud Storage URL/],
      ["https://storage.googleapis.com/my-bucket", /names the bucket "my-bucket" but no object/],
      ["https://storage.googleapis.com/my-bucket/", /but no object/],
      ["https://storage.googleapis.com//disk.tar.gz", /bucket "" is missing/],
      ["https://storage.googleapis.com/ab/disk.tar.gz", /is 2 characters long/],
      [
        "https://storage.googleapis.com/" + "b".repeat(64) + "/disk.tar.gz",
        /is 64 characters long/,
      ],
      [
        "https://storage.googleapis.com/My-Bucket/disk.tar.gz",
        /may only contain lowercase letters/,
      ],
      [
        "https://storage.googleapis.com/-bucket/disk.tar.gz",
        /must start and end with a letter or digit/,
      ],
      [
        "https://storage.googleapis.com/bucket-/disk.tar.gz",
        /must start and end with a letter or digit/,
      ],
      ["https://storage.googleapis.com/192.168.1.10/disk.tar.gz", /must not be an IP address/],
      ["https://storage.googleapis.com/goog-images/disk.tar.gz", /must not start with "goog"/],
      ["https://storage.googleapis.com/my-g00gle-images/disk.tar.gz", /must not contain "google"/],
      ["https://storage.googleapis.com/a..b/disk.tar.gz", /dot-separated part that is empty/],
      [
        "https://storage.googleapis.com/my-bucket/disk.tar.gz?generation=1",
        /must not contain \? or #/,
      ],
      ["https://storage.googleapis.com/my-bucket/" + "o".repeat(1025), /longer than 1024 bytes/],
    ])("rejects the source %j", (source, message) => {
      const found = validateCreateImageRequest(request({ rawDisk: { source } }));
      expect(found.map((v) => v.field)).toEqual(["image.raw_disk.source"]);
      expect(found[0]?.description).toMatch(message);
    });

    it("accepts container type TAR or empty and rejects anything else", () => {
      expect(fields({ rawDisk: { source: SOURCE, containerType: "TAR" } })).toEqual([]);
      expect(fields({ rawDisk: { source: SOURCE, containerType: "" } })).toEqual([]);
      for (const containerType of ["tar", "ZIP", "TAR "]) {
        expect(fields({ rawDisk: { source: SOURCE, containerType } })).toEqual([
          "image.raw_disk.container_type",
        ]);
      }
    });

    it("accepts 40 lowercase hex digits as sha1_checksum and rejects anything else", () => {
      expect(fields({ rawDisk: { source: SOURCE, sha1Checksum: "a".repeat(40) } })).toEqual([]);
      expect(
        fields({
          rawDisk: { source: SOURCE, sha1Checksum: "0123456789abcdef0123456789abcdef01234567" },
        }),
      ).toEqual([]);
      for (const sha1Checksum of ["a".repeat(39), "a".repeat(41), "A".repeat(40), "g".repeat(40)]) {
        expect(fields({ rawDisk: { source: SOURCE, sha1Checksum } })).toEqual([
          "image.raw_disk.sha1_checksum",
        ]);
      }
    });
  });

  describe("image.family", () => {
    it("follows the name pattern", () => {
      expect(fields({ family: "web" })).toEqual([]);
      expect(fields({ family: "a".repeat(63) })).toEqual([]);
      for (const family of ["a".repeat(64), "Web", "web-", "9web", "wéb"]) {
        expect(fields({ family })).toEqual(["image.family"]);
      }
    });
  });

  describe("image.labels", () => {
    it("accepts Compute's label alphabet, international letters included", () => {
      expect(
        fields({
          labels: {
            env: "prod",
            team_1: "",
            "k-2": "v_1-x",
            ключ: "значение",
            日本: "東京",
            [`k${"a".repeat(62)}`]: "v".repeat(63),
          },
        }),
      ).toEqual([]);
    });

    it("accepts 63 labels and rejects 64: the service's ownership label takes Compute's 64th slot", () => {
      const labels = (n: number) =>
        Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));
      expect(fields({ labels: labels(63) })).toEqual([]);
      expect(fields({ labels: labels(64) })).toEqual(["image.labels"]);
    });

    it("bounds what one request may carry: description, licenses, guest OS features", () => {
      expect(fields({ description: "d".repeat(2048) })).toEqual([]);
      expect(fields({ description: "d".repeat(2049) })).toEqual(["image.description"]);
      const license = (i: number) => `projects/debian-cloud/global/licenses/l-${i}`;
      expect(fields({ licenses: Array.from({ length: 16 }, (_, i) => license(i)) })).toEqual([]);
      expect(fields({ licenses: Array.from({ length: 17 }, (_, i) => license(i)) })).toEqual([
        "image.licenses",
      ]);
      expect(fields({ licenses: [`projects/p/global/licenses/${"l".repeat(600)}`] })).toEqual([
        "image.licenses[0]",
      ]);
      expect(
        fields({
          guestOsFeatures: [{ type: "GVNIC" }, { type: "UEFI_COMPATIBLE" }, { type: "GVNIC" }],
        }),
      ).toEqual(["image.guest_os_features[2].type"]);
    });

    it("rejects the reserved ownership label and says why", () => {
      const found = validateCreateImageRequest(
        request({ labels: { "imagesvc-request-id": "x", env: "prod" } }),
      );
      expect(found.map((v) => v.field)).toEqual(['image.labels["imagesvc-request-id"]']);
      expect(found[0]?.description).toMatch(/is reserved: the service sets it/);
    });

    it.each([
      [{ Env: "prod" }, 'image.labels["Env"]', /the key "Env" .* \(try "env"\)/],
      [{ "1env": "prod" }, 'image.labels["1env"]', /starting with a lowercase letter/],
      [{ "": "prod" }, 'image.labels[""]', /the key ""/],
      [{ [`k${"a".repeat(63)}`]: "v" }, `image.labels["k${"a".repeat(63)}"]`, /1-63/],
      [{ "e.nv": "prod" }, 'image.labels["e.nv"]', /the key/],
      [{ env: "Prod" }, 'image.labels["env"]', /the value "Prod"/],
      [{ env: "v".repeat(64) }, 'image.labels["env"]', /0-63/],
      [{ env: "a b" }, 'image.labels["env"]', /the value/],
    ])("rejects %j", (labels, field, message) => {
      const found = validateCreateImageRequest(request({ labels }));
      expect(found.map((v) => v.field)).toEqual([field]);
      expect(found[0]?.description).toMatch(message);
    });
  });

  describe("other image fields", () => {
    it("accepts every Compute guest OS feature and rejects unknown ones at their index", () => {
      expect(
        fields({
          guestOsFeatures: [
            { type: "UEFI_COMPATIBLE" },
            { type: "GVNIC" },
            { type: "SEV_SNP_CAPABLE" },
          ],
        }),
      ).toEqual([]);
      expect(fields({ guestOsFeatures: [{ type: "GVNIC" }, { type: "uefi_compatible" }] })).toEqual(
        ["image.guest_os_features[1].type"],
      );
      expect(fields({ guestOsFeatures: [{ type: "" }] })).toEqual([
        "image.guest_os_features[0].type",
      ]);
    });

    it("accepts ARM64, X86_64 or empty as architecture", () => {
      for (const architecture of ["ARM64", "X86_64", ""])
        expect(fields({ architecture })).toEqual([]);
      for (const architecture of ["arm64", "AMD64", "X86-64"])
        expect(fields({ architecture })).toEqual(["image.architecture"]);
    });

    it("requires a positive disk size when one is given", () => {
      expect(fields({ diskSizeGb: 10n })).toEqual([]);
      expect(fields({ diskSizeGb: 0n })).toEqual([]);
      expect(fields({ diskSizeGb: -1n })).toEqual(["image.disk_size_gb"]);
    });

    it("accepts at most one storage location", () => {
      expect(fields({ storageLocations: ["us"] })).toEqual([]);
      expect(fields({ storageLocations: ["us-central1"] })).toEqual([]);
      expect(fields({ storageLocations: ["us", "eu"] })).toEqual(["image.storage_locations"]);
      expect(fields({ storageLocations: ["US"] })).toEqual(["image.storage_locations[0]"]);
    });

    it("accepts license paths and URLs", () => {
      expect(
        fields({
          licenses: [
            "projects/debian-cloud/global/licenses/debian-12-bookworm",
            "https://compute.googleapis.com/compute/v1/projects/windows-cloud/global/licenses/windows-server-2022-dc",
          ],
        }),
      ).toEqual([]);
      expect(
        fields({
          licenses: ["projects/debian-cloud/global/licenses/debian-12-bookworm", "debian"],
        }),
      ).toEqual(["image.licenses[1]"]);
    });

    it("checks the encryption key", () => {
      const rawKey = Buffer.alloc(32, 7).toString("base64");
      const kmsKeyName = "projects/my-project/locations/us/keyRings/ring/cryptoKeys/key";
      expect(fields({ imageEncryptionKey: { rawKey } })).toEqual([]);
      expect(
        fields({
          imageEncryptionKey: {
            kmsKeyName,
            kmsKeyServiceAccount: "sa@my-project.iam.gserviceaccount.com",
          },
        }),
      ).toEqual([]);
      expect(
        fields({ imageEncryptionKey: { kmsKeyName: `${kmsKeyName}/cryptoKeyVersions/3` } }),
      ).toEqual([]);
      expect(fields({ imageEncryptionKey: { rawKey, kmsKeyName } })).toEqual([
        "image.image_encryption_key",
      ]);
      expect(fields({ imageEncryptionKey: { rawKey: "c2hvcnQ=" } })).toEqual([
        "image.image_encryption_key.raw_key",
      ]);
      expect(fields({ imageEncryptionKey: { kmsKeyName: "my-key" } })).toEqual([
        "image.image_encryption_key.kms_key_name",
      ]);
      expect(
        fields({ imageEncryptionKey: { kmsKeyServiceAccount: "sa@x.iam.gserviceaccount.com" } }),
      ).toEqual([
        "image.image_encryption_key",
        "image.image_encryption_key.kms_key_service_account",
      ]);
    });
  });

  describe("request_id", () => {
    it("accepts empty and any non-zero UUID", () => {
      for (const requestId of [
        "",
        "3f1c2a9e-8d7b-4c6a-9e5f-1a2b3c4d5e6f",
        "3F1C2A9E-8D7B-4C6A-9E5F-1A2B3C4D5E6F",
        "00000000-0000-0000-0000-000000000001",
      ]) {
        expect(fields({}, { requestId })).toEqual([]);
      }
    });

    it.each([
      ["00000000-0000-0000-0000-000000000000", /all-zero UUID/],
      ["not-a-uuid", /is not a UUID/],
      ["3f1c2a9e8d7b4c6a9e5f1a2b3c4d5e6f", /is not a UUID/],
      ["{3f1c2a9e-8d7b-4c6a-9e5f-1a2b3c4d5e6f}", /is not a UUID/],
    ])("rejects %j", (requestId, message) => {
      const found = validateCreateImageRequest(request({}, { requestId }));
      expect(found.map((v) => v.field)).toEqual(["request_id"]);
      expect(found[0]?.description).toMatch(message);
    });
  });

  it("reports several violations together, in field order", () => {
    const found = validateCreateImageRequest(
      create(CreateImageRequestSchema, {
        project: "Bad Project",
        requestId: "nope",
        image: {
          name: "Web-",
          family: "-fam",
          labels: { Env: "prod" },
          rawDisk: { source: "gs://bucket/disk.tar.gz", containerType: "ZIP" },
          architecture: "amd64",
        },
      }),
    );
    expect(found.map((v) => v.field)).toEqual([
      "project",
      "image.name",
      "image.family",
      'image.labels["Env"]',
      "image.raw_disk.source",
      "image.raw_disk.container_type",
      "image.architecture",
      "request_id",
    ]);
  });

  it("caps how much of a huge value a message repeats", () => {
    const found = validateCreateImageRequest(request({ name: "A".repeat(100_000) }));
    expect(found[0]?.description.length).toBeLessThan(300);
  });
});
