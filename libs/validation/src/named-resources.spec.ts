import { create } from "@bufbuild/protobuf";
import { CreateImageRequestSchema } from "@imagesvc/proto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ImageSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { namedResources } from "./named-resources";

const request = (image: MessageInitShape<typeof ImageSchema>) =>
  create(CreateImageRequestSchema, { project: "web-staging", image: { name: "web", ...image } });

/** A Cloud KMS key of `project`'s in `location`, used through `serviceAccount`. */
const kmsKey = (project: string, serviceAccount: string, location = "global") => ({
  kmsKeyName: `projects/${project}/locations/${location}/keyRings/r/cryptoKeys/k`,
  kmsKeyServiceAccount: serviceAccount,
});

describe("namedResources", () => {
  it.each<[string, MessageInitShape<typeof ImageSchema>, unknown]>([
    [
      "a source disk in another project",
      { sourceDisk: "projects/web-prod/zones/us-central1-a/disks/db" },
      { kind: "project", field: "image.source_disk", project: "web-prod" },
    ],
    [
      "a source disk as a full URL",
      {
        sourceDisk:
          "https://compute.googleapis.com/compute/v1/projects/web-prod/zones/us-central1-a/disks/db",
      },
      { kind: "project", field: "image.source_disk", project: "web-prod" },
    ],
    [
      "a source disk without a project: the target's",
      { sourceDisk: "zones/us-central1-a/disks/db" },
      { kind: "project", field: "image.source_disk", project: "web-staging" },
    ],
    [
      "an image family of a public project",
      { sourceImage: "projects/debian-cloud/global/images/family/debian-12" },
      { kind: "project", field: "image.source_image", project: "debian-cloud" },
    ],
    [
      "a snapshot",
      { sourceSnapshot: "projects/web-prod/global/snapshots/s1" },
      { kind: "project", field: "image.source_snapshot", project: "web-prod" },
    ],
    [
      "a license's project",
      { licenses: ["projects/debian-cloud/global/licenses/debian-12-bookworm"] },
      { kind: "project", field: "image.licenses[0]", project: "debian-cloud" },
    ],
    [
      "a raw disk's bucket",
      { rawDisk: { source: "https://storage.googleapis.com/prod-images/a/b.tar.gz" } },
      { kind: "bucket", field: "image.raw_disk.source", bucket: "prod-images" },
    ],
  ])("finds %s", (_, image, expected) => {
    expect(namedResources(request(image))).toEqual([expected]);
  });

  it("finds each license's project, as a path or a full URL, at its own index", () => {
    const found = namedResources(
      request({
        sourceImage: "global/images/base",
        licenses: [
          "projects/web-staging/global/licenses/internal",
          "https://compute.googleapis.com/compute/v1/projects/vendor-licenses/global/licenses/appliance",
        ],
      }),
    );
    expect(found.slice(1)).toEqual([
      { kind: "project", field: "image.licenses[0]", project: "web-staging" },
      { kind: "project", field: "image.licenses[1]", project: "vendor-licenses" },
    ]);
  });

  it("finds a KMS key's project and its service account's, or says the account's project is unknown", () => {
    const found = namedResources(
      request({
        sourceImage: "global/images/base",
        imageEncryptionKey: kmsKey("keys-prod", "compute@sa-project.iam.gserviceaccount.com"),
      }),
    );
    expect(found).toEqual([
      { kind: "project", field: "image.source_image", project: "web-staging" },
      { kind: "project", field: "image.image_encryption_key.kms_key_name", project: "keys-prod" },
      {
        kind: "project",
        field: "image.image_encryption_key.kms_key_service_account",
        project: "sa-project",
      },
    ]);
    expect(
      namedResources(
        request({
          sourceImage: "global/images/base",
          imageEncryptionKey: {
            kmsKeyServiceAccount: "123456789-compute@developer.gserviceaccount.com",
          },
        }),
      )[1],
    ).toEqual({
      kind: "unknown-project",
      field: "image.image_encryption_key.kms_key_service_account",
      value: "123456789-compute@developer.gserviceaccount.com",
      fix: "use a service account NAME@PROJECT.iam.gserviceaccount.com",
    });
  });

  it("finds the projects of source keys, of the replacement image and of namespaced tags", () => {
    const found = namedResources(
      request({
        sourceImage: "projects/base-images/global/images/base",
        sourceImageEncryptionKey: kmsKey(
          "keys-prod",
          "kms@sa-project.iam.gserviceaccount.com",
          "us",
        ),
        deprecated: { state: "DEPRECATED", replacement: "projects/web-next/global/images/web-2" },
        params: {
          resourceManagerTags: {
            "tag-owner/env": "prod",
            "tagKeys/123": "tagValues/456",
            "123456789/team": "123456789/team/edge",
          },
        },
      }),
    );
    expect(
      found.map((f) => [
        f.field,
        f.kind === "project" ? f.project : f.kind === "bucket" ? f.bucket : f.value,
      ]),
    ).toEqual([
      ["image.source_image", "base-images"],
      ["image.source_image_encryption_key.kms_key_name", "keys-prod"],
      ["image.source_image_encryption_key.kms_key_service_account", "sa-project"],
      ["image.deprecated.replacement", "web-next"],
      ['image.params.resource_manager_tags["tag-owner/env"]', "tag-owner"],
      ['image.params.resource_manager_tags["tagKeys/123"]', "tagKeys/123"],
      ['image.params.resource_manager_tags["tagKeys/123"]', "tagValues/456"],
      ['image.params.resource_manager_tags["123456789/team"]', "123456789/team"],
      ['image.params.resource_manager_tags["123456789/team"]', "123456789/team/edge"],
    ]);
  });
});
