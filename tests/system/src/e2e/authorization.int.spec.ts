// The authorization table: every field of CreateImage that can name a project or a bucket,
// granted and not, in `tokens` and `google` modes, over the Connect and gRPC protocols. A refusal
// is PERMISSION_DENIED naming the field and the project or bucket, and stores nothing.
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  type Client,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ImageService, ReleaseMode, type ImageSchema } from "@imagesvc/proto";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Policy } from "@imagesvc/image-service";
import type { AuthConfig } from "@imagesvc/image-service";
import { startGoogleIdTokens, type GoogleIdTokens } from "./google-id-tokens.test-helper";
import { startStack, type Stack } from "./stack.test-helper";

const dir = mkdtempSync(join(tmpdir(), "gateway-authz-"));
const TOKEN = `ci-${randomBytes(16).toString("hex")}`;
const NO_BUCKETS = `nb-${randomBytes(16).toString("hex")}`;
const write = (name: string, value: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
};
const tokensFile = write("tokens.json", {
  tokens: [
    { principal: "alice@example.com", sha256: createHash("sha256").update(TOKEN).digest("hex") },
    { principal: "bob@example.com", token: NO_BUCKETS },
  ],
});
// alice may create in web-staging, import from staging-images, and use two other projects' resources.
const policyFile = write("policy.json", {
  grants: [
    {
      principal: "alice@example.com",
      projects: ["web-staging"],
      actions: ["create", "read"],
      buckets: ["staging-images"],
    },
    {
      principal: "alice@example.com",
      projects: ["golden-images", "shared-keys"],
      actions: ["use"],
    },
    // bob's grant has no bucket list: it grants no bucket.
    { principal: "bob@example.com", projects: ["web-staging"], actions: ["create", "read"] },
  ],
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

type ImageInit = MessageInitShape<typeof ImageSchema>;
const disk = (project: string) => `projects/${project}/zones/us-central1-a/disks/db`;
const kms = (project: string) =>
  `projects/${project}/locations/global/keyRings/ring/cryptoKeys/key`;
const PUBLIC = "projects/debian-cloud/global/images/family/debian-12";
const license = (project: string, name: string) => `projects/${project}/global/licenses/${name}`;

/** [case, image fields, undefined when granted, else what the refusal must name]. */
const TABLE: [string, ImageInit, RegExp | undefined][] = [
  [
    "raw_disk.source in a granted bucket",
    { rawDisk: { source: "https://storage.googleapis.com/staging-images/web.tar.gz" } },
    undefined,
  ],
  [
    "raw_disk.source in another bucket",
    { rawDisk: { source: "https://storage.googleapis.com/prod-images/db.tar.gz" } },
    /image\.raw_disk\.source names bucket prod-images/,
  ],
  ["source_disk in the target project", { sourceDisk: "zones/us-central1-a/disks/db" }, undefined],
  ["source_disk in a used project", { sourceDisk: disk("golden-images") }, undefined],
  [
    "source_disk in another project",
    { sourceDisk: disk("web-prod") },
    /image\.source_disk names project web-prod/,
  ],
  [
    "source_disk as a URL in another project",
    { sourceDisk: `https://compute.googleapis.com/compute/v1/${disk("web-prod")}` },
    /image\.source_disk names project web-prod/,
  ],
  ["source_image of a public project", { sourceImage: PUBLIC }, undefined],
  [
    "source_image in a used project",
    { sourceImage: "projects/golden-images/global/images/base" },
    undefined,
  ],
  [
    "source_image in another project",
    { sourceImage: "projects/web-prod/global/images/private" },
    /image\.source_image names project web-prod/,
  ],
  [
    "source_snapshot in a used project",
    { sourceSnapshot: "projects/golden-images/global/snapshots/s" },
    undefined,
  ],
  [
    "source_snapshot in another project",
    { sourceSnapshot: "projects/web-prod/global/snapshots/s" },
    /image\.source_snapshot names project web-prod/,
  ],
  [
    "licenses of a public image project",
    {
      sourceImage: PUBLIC,
      licenses: [
        license("debian-cloud", "debian-12-bookworm"),
        `https://compute.googleapis.com/compute/v1/${license("windows-cloud", "windows-server-2022-dc")}`,
      ],
    },
    undefined,
  ],
  [
    "licenses in the target and a used project",
    {
      sourceImage: PUBLIC,
      licenses: [license("web-staging", "internal"), license("golden-images", "appliance")],
    },
    undefined,
  ],
  [
    "a license in another project",
    {
      sourceImage: PUBLIC,
      licenses: [license("debian-cloud", "debian-12-bookworm"), license("web-prod", "paid")],
    },
    /image\.licenses\[1\] names project web-prod/,
  ],
  [
    "a license as a URL in another project",
    {
      sourceImage: PUBLIC,
      licenses: [`https://compute.googleapis.com/compute/v1/${license("web-prod", "paid")}`],
    },
    /image\.licenses\[0\] names project web-prod/,
  ],
  [
    "kms_key_name in a used project",
    { sourceImage: PUBLIC, imageEncryptionKey: { kmsKeyName: kms("shared-keys") } },
    undefined,
  ],
  [
    "kms_key_name in another project",
    { sourceImage: PUBLIC, imageEncryptionKey: { kmsKeyName: kms("web-prod") } },
    /kms_key_name names project web-prod/,
  ],
  [
    "kms_key_service_account of a used project",
    {
      sourceImage: PUBLIC,
      imageEncryptionKey: {
        kmsKeyName: kms("shared-keys"),
        kmsKeyServiceAccount: "kms@shared-keys.iam.gserviceaccount.com",
      },
    },
    undefined,
  ],
  [
    "kms_key_service_account of another project",
    {
      sourceImage: PUBLIC,
      imageEncryptionKey: {
        kmsKeyName: kms("shared-keys"),
        kmsKeyServiceAccount: "kms@web-prod.iam.gserviceaccount.com",
      },
    },
    /kms_key_service_account names project web-prod/,
  ],
  [
    "kms_key_service_account whose project is unknown",
    {
      sourceImage: PUBLIC,
      imageEncryptionKey: {
        kmsKeyName: kms("shared-keys"),
        kmsKeyServiceAccount: "123456789-compute@developer.gserviceaccount.com",
      },
    },
    /123456789-compute@developer\.gserviceaccount\.com, whose project its name does not tell/,
  ],
];

let google: GoogleIdTokens;
beforeAll(async () => {
  google = await startGoogleIdTokens();
});
afterAll(() => {
  google.close();
});

/** A client of `stack` speaking `protocol`, sending `token`. */
function clientOf(
  stack: Stack,
  protocol: "connect" | "grpc",
  token: string,
): Client<typeof ImageService> {
  const bearer: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  const options = { baseUrl: stack.gateway.url, interceptors: [bearer] };
  const transport: Transport =
    protocol === "connect"
      ? createConnectTransport({ ...options, httpVersion: "2" })
      : createGrpcTransport(options);
  return createClient(ImageService, transport);
}

describe.each<["tokens" | "google"]>([["tokens"], ["google"]])("in %s mode", (mode) => {
  let stack: Stack;
  beforeAll(async () => {
    const auth: AuthConfig =
      mode === "tokens"
        ? { mode: "tokens", tokensFile }
        : // Any account: this table is about grants; hosted domains are auth.int.spec.ts's.
          { mode: "google", audience: google.audience, certsUrl: google.certsUrl, accounts: "any" };
    stack = await startStack({ gateway: { auth, policy: Policy.load(policyFile) } });
  });
  afterAll(async () => {
    await stack.close();
  });
  const aliceToken = () => (mode === "tokens" ? TOKEN : google.idToken());

  describe.each<["connect" | "grpc"]>([["connect"], ["grpc"]])("over %s", (protocol) => {
    it.each(TABLE)("%s", async (_, image, refusal) => {
      const client = clientOf(stack, protocol, aliceToken());
      const before = await stack.keys();
      const name = `i-${randomBytes(4).toString("hex")}`;
      const result = await client
        .createImage({ project: "web-staging", image: { name, ...image } })
        .catch((e: unknown) => ConnectError.from(e));
      if (refusal === undefined) {
        expect(result).not.toBeInstanceOf(ConnectError);
        return;
      }
      expect(result).toBeInstanceOf(ConnectError);
      const error = result as ConnectError;
      expect(Code[error.code]).toBe("PermissionDenied");
      expect(error.rawMessage).toMatch(/^alice@example\.com may not use what this request names: /);
      expect(error.rawMessage).toMatch(refusal);
      // Nothing stored: no record, no request id, no job.
      expect(await stack.keys()).toEqual(before);
    });
  });

  it("keeps releases to the release action: a caller who may create may not promote, roll back, deprecate, share or set a policy, nor create with promote-when-ready", async () => {
    const client = clientOf(stack, "connect", aliceToken());
    const before = await stack.keys();
    const refusals = await Promise.all(
      [
        client.promoteImage({ project: "web-staging", image: "web-1" }),
        client.rollbackFamily({ project: "web-staging", family: "web" }),
        client.deprecateImage({ project: "web-staging", image: "web-1", state: "DEPRECATED" }),
        client.shareImage({
          project: "web-staging",
          image: "web-1",
          members: ["user:a@example.com"],
        }),
        client.setFamilyPolicy({
          project: "web-staging",
          family: "web",
          policy: { keepNewest: 2 },
        }),
        client.createImage({
          project: "web-staging",
          image: { name: "held-1", family: "web", sourceImage: PUBLIC },
          release: ReleaseMode.PROMOTE_WHEN_READY,
        }),
      ].map((call) =>
        call.then(
          () => undefined,
          (e: unknown) => ConnectError.from(e),
        ),
      ),
    );
    for (const error of refusals) {
      expect(error?.code).toBe(Code.PermissionDenied);
      expect(error?.rawMessage).toBe(
        "alice@example.com may not release images in project web-staging",
      );
    }
    // Nothing stored. Holding an image for a later promotion needs only create.
    expect(await stack.keys()).toEqual(before);
    const held = await client.createImage({
      project: "web-staging",
      image: { name: `held-${randomBytes(3).toString("hex")}`, family: "web", sourceImage: PUBLIC },
      release: ReleaseMode.HOLD,
    });
    expect(held.name).toMatch(/^operation-/);
  });

  it("refuses every bucket to a grant without a bucket list, and still allows public images", async () => {
    const token = mode === "tokens" ? NO_BUCKETS : google.idToken({ email: "bob@example.com" });
    const client = clientOf(stack, "grpc", token);
    const refused = await client
      .createImage({
        project: "web-staging",
        image: {
          name: "bob-1",
          rawDisk: { source: "https://storage.googleapis.com/staging-images/a.tar.gz" },
        },
      })
      .catch((e: unknown) => ConnectError.from(e));
    expect((refused as ConnectError).code).toBe(Code.PermissionDenied);
    expect((refused as ConnectError).rawMessage).toMatch(
      /names bucket staging-images, which no grant of bob@example\.com/,
    );
    const ok = await client.createImage({
      project: "web-staging",
      image: { name: "bob-2", sourceImage: PUBLIC },
    });
    expect(ok.user).toBe("bob@example.com");
  });

  it("names every refused field at once", async () => {
    const denied = await clientOf(stack, "connect", aliceToken())
      .createImage({
        project: "web-staging",
        image: {
          name: "many",
          sourceDisk: disk("web-prod"),
          imageEncryptionKey: { kmsKeyName: kms("keys-prod") },
        },
      })
      .catch((e: unknown) => ConnectError.from(e));
    expect((denied as ConnectError).code).toBe(Code.PermissionDenied);
    expect((denied as ConnectError).rawMessage).toMatch(
      /image\.source_disk names project web-prod.*; image\.image_encryption_key\.kms_key_name names project keys-prod/,
    );
  });
});
