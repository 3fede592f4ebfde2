import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { CreateImageRequestSchema, type ImageSchema } from "@imagesvc/proto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_PUBLIC_IMAGE_PROJECTS, refusedResources } from "./named-resources";
import { Policy } from "./policy";

const dir = mkdtempSync(join(tmpdir(), "named-resources-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
const file = join(dir, "policy.json");
writeFileSync(
  file,
  JSON.stringify({
    grants: [
      { principal: "alice", projects: ["my-project"], actions: ["create", "use"] },
      { principal: "alice", projects: ["keys-ok"], actions: ["use"] },
    ],
  }),
);
const policy = Policy.load(file);
const publicProjects = new Set(DEFAULT_PUBLIC_IMAGE_PROJECTS);
const KMS = (project: string) => `projects/${project}/locations/us/keyRings/r/cryptoKeys/k`;
/** What alice may not name when she creates image web (with `image`'s fields) in my-project. */
const refusedToAlice = (image: MessageInitShape<typeof ImageSchema>) =>
  refusedResources(
    policy,
    "alice",
    create(CreateImageRequestSchema, { project: "my-project", image: { name: "web", ...image } }),
    publicProjects,
  );

describe("refusedResources, for the fields beyond the source", () => {
  it("names each field whose project the caller may not use, and lets the granted ones by", () => {
    const refused = refusedToAlice({
      sourceImage: "projects/debian-cloud/global/images/family/debian-12",
      sourceImageEncryptionKey: {
        kmsKeyName: KMS("keys-prod"),
        kmsKeyServiceAccount: "kms@sa-other.iam.gserviceaccount.com",
      },
      imageEncryptionKey: { kmsKeyName: KMS("keys-ok") },
      deprecated: { state: "DEPRECATED", replacement: "projects/web-next/global/images/w" },
      params: { resourceManagerTags: { "tag-owner/env": "prod", "tagKeys/1": "tagValues/2" } },
    });
    expect(refused).toEqual([
      'image.source_image_encryption_key.kms_key_name names project keys-prod, where alice has no "use" grant',
      'image.source_image_encryption_key.kms_key_service_account names project sa-other, where alice has no "use" grant',
      'image.deprecated.replacement names project web-next, where alice has no "use" grant',
      'image.params.resource_manager_tags["tag-owner/env"] names project tag-owner, where alice has no "use" grant',
      'image.params.resource_manager_tags["tagKeys/1"] names tagKeys/1, whose project its name does not tell; name the tag by its project, as PROJECT_ID/KEY, for a grant on that project to cover it',
      'image.params.resource_manager_tags["tagKeys/1"] names tagValues/2, whose project its name does not tell; name the tag by its project, as PROJECT_ID/KEY, for a grant on that project to cover it',
    ]);
  });

  it("lets a replacement in a public image project by, as a source image there", () => {
    const refused = refusedToAlice({
      sourceImage: "global/images/base",
      deprecated: { state: "DEPRECATED", replacement: "projects/debian-cloud/global/images/d" },
      params: { resourceManagerTags: { "my-project/env": "prod" } },
    });
    expect(refused).toEqual([]);
  });
});
