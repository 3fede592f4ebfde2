import { clone, create } from "@bufbuild/protobuf";
import { CreateImageRequestSchema, type CreateImageRequest } from "@imagesvc/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GUEST_OS_FEATURE_TYPES, validateCreateImageRequest } from "./create-image-request";
import { OWNERSHIP_LABEL } from "./labels";

// Generators written from Compute's documented rules, independently of the validator's code.

const projectId = fc.stringMatching(/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/);
const domain = fc.constantFrom("example.com", "corp.example.co.uk", "a1.io");
const project = fc.oneof(
  projectId,
  fc.tuple(domain, projectId).map(([d, p]) => `${d}:${p}`),
);
const resourceName = fc.stringMatching(/^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/);
const zone = fc.constantFrom(
  "us-central1-a",
  "europe-west4-b",
  "northamerica-northeast1-c",
  "me-central2-a",
);
const bucket = fc
  .stringMatching(/^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$/)
  .filter((b) => !b.startsWith("goog") && !/g[o0]{2}gle/.test(b));
const objectName = fc
  .stringMatching(/^[A-Za-z0-9._ -][A-Za-z0-9/._ -]{0,100}$/)
  // Refused as a URL parser would move them, perhaps into another bucket: "." and ".." segments,
  // and a trailing space (which it drops; %20 is the URL of one).
  .filter((o) => o.split("/").every((s) => s !== "." && s !== "..") && !o.endsWith(" "));
const uuid = fc.uuid().filter((u) => u !== "00000000-0000-0000-0000-000000000000");

type SourceKind = "raw" | "disk" | "image" | "snapshot";
/** The source fields of an Image; a generator sets exactly one. */
interface SourceFields {
  rawDisk?: { source: string; containerType: string; sha1Checksum: string };
  sourceDisk?: string;
  sourceImage?: string;
  sourceSnapshot?: string;
}
const sources: Record<SourceKind, fc.Arbitrary<SourceFields>> = {
  raw: fc
    .tuple(
      bucket,
      objectName,
      fc.constantFrom("", "TAR"),
      fc.constantFrom("", "0123456789abcdef0123456789abcdef01234567"),
    )
    .map(([b, o, containerType, sha1Checksum]) => ({
      rawDisk: { source: `https://storage.googleapis.com/${b}/${o}`, containerType, sha1Checksum },
    })),
  disk: fc.tuple(fc.option(projectId, { nil: undefined }), zone, resourceName).map(([p, z, d]) => {
    const scope = p === undefined ? "" : `projects/${p}/`;
    return { sourceDisk: `${scope}zones/${z}/disks/${d}` };
  }),
  image: fc.tuple(project, fc.boolean(), resourceName, fc.boolean()).map(([p, family, n, url]) => ({
    sourceImage: `${url ? "https://compute.googleapis.com/compute/v1/" : ""}projects/${p}/global/images/${family ? "family/" : ""}${n}`,
  })),
  snapshot: fc
    .tuple(project, resourceName)
    .map(([p, n]) => ({ sourceSnapshot: `projects/${p}/global/snapshots/${n}` })),
};

const labelKey = fc.oneof(
  // The service's own ownership label is reserved; every other valid key is accepted.
  fc.stringMatching(/^[a-z][a-z0-9_-]{0,62}$/).filter((k) => k !== OWNERSHIP_LABEL),
  fc.constantFrom("ключ", "日本", "é_1"),
);
const labelValue = fc.oneof(
  fc.stringMatching(/^[a-z0-9_-]{0,63}$/),
  fc.constantFrom("значение", "東京"),
);

/** Valid CreateImageRequests, with the given source kind or any. */
function validRequest(kind?: SourceKind): fc.Arbitrary<CreateImageRequest> {
  const source = kind === undefined ? fc.oneof(...Object.values(sources)) : sources[kind];
  return fc
    .record({
      project,
      requestId: fc.oneof(fc.constant(""), uuid),
      forceCreate: fc.boolean(),
      name: resourceName,
      description: fc.string({ maxLength: 200 }),
      family: fc.oneof(fc.constant(""), resourceName),
      labels: fc.dictionary(labelKey, labelValue, { maxKeys: 63 }),
      source,
      storageLocations: fc.constantFrom<string[]>([], ["us"], ["eu"], ["asia"], ["us-central1"]),
      guestOsFeatures: fc.subarray([...GUEST_OS_FEATURE_TYPES]),
      architecture: fc.constantFrom("", "ARM64", "X86_64"),
      diskSizeGb: fc.bigInt({ min: 0n, max: 65_536n }),
    })
    .map((r) =>
      create(CreateImageRequestSchema, {
        project: r.project,
        requestId: r.requestId,
        forceCreate: r.forceCreate,
        image: {
          name: r.name,
          description: r.description,
          family: r.family,
          labels: r.labels,
          ...r.source,
          storageLocations: r.storageLocations,
          guestOsFeatures: r.guestOsFeatures.map((type) => ({ type })),
          architecture: r.architecture,
          diskSizeGb: r.diskSizeGb,
        },
      }),
    );
}

const invalidName = fc.oneof(
  resourceName.map((n) => `${n.toUpperCase()}X`),
  resourceName.map((n) => `${n.slice(0, 62)}-`),
  resourceName.map((n) => `9${n.slice(0, 62)}`),
  resourceName.map((n) => `${n.slice(0, 30)}_${n.slice(0, 30)}`),
  fc.stringMatching(/^[a-z][-a-z0-9]{63,80}$/),
  fc.constantFrom("wéb", "web image", "ᚠ", "-"),
);

interface Mutation {
  readonly path: string;
  readonly kind?: SourceKind;
  readonly value: fc.Arbitrary<string>;
  readonly apply: (req: CreateImageRequest, value: string) => void;
}

const image = (req: CreateImageRequest) => {
  if (req.image === undefined) throw new Error("generated requests always have an image");
  return req.image;
};

/** One mutation per field: each makes exactly that field invalid. */
const mutations: Mutation[] = [
  {
    path: "project",
    value: fc.oneof(
      invalidName,
      projectId.map((p) => p.slice(0, 5)),
      projectId.map((p) => `${p}${"x".repeat(30)}`),
      fc.constantFrom("", "example.com:", "bad..domain:my-project"),
    ),
    apply: (r, v) => (r.project = v),
  },
  {
    path: "image.name",
    value: fc.oneof(invalidName, fc.constant("")),
    apply: (r, v) => (image(r).name = v),
  },
  { path: "image.family", value: invalidName, apply: (r, v) => (image(r).family = v) },
  {
    path: "image.raw_disk.source",
    kind: "raw",
    value: fc.oneof(
      fc.tuple(bucket, objectName).map(([b, o]) => `gs://${b}/${o}`),
      fc.tuple(bucket, objectName).map(([b, o]) => `http://storage.googleapis.com/${b}/${o}`),
      bucket.map((b) => `https://storage.googleapis.com/${b}`),
      fc
        .tuple(bucket, objectName)
        .map(([b, o]) => `https://storage.googleapis.com/${b.toUpperCase()}X/${o}`),
    ),
    apply: (r, v) => {
      const raw = image(r).rawDisk;
      if (raw) raw.source = v;
    },
  },
  {
    path: "image.raw_disk.container_type",
    kind: "raw",
    value: fc.string({ minLength: 1 }).filter((s) => s !== "TAR"),
    apply: (r, v) => {
      const raw = image(r).rawDisk;
      if (raw) raw.containerType = v;
    },
  },
  {
    path: "image.raw_disk.sha1_checksum",
    kind: "raw",
    value: fc.string({ minLength: 1 }).filter((s) => !/^[a-f0-9]{40}$/.test(s)),
    apply: (r, v) => {
      const raw = image(r).rawDisk;
      if (raw) raw.sha1Checksum = v;
    },
  },
  {
    path: "image.source_disk",
    kind: "disk",
    value: fc.oneof(
      invalidName.map((n) => `zones/us-central1-a/disks/${n}`),
      resourceName.map((n) => `disks/${n}`),
    ),
    apply: (r, v) => (image(r).sourceDisk = v),
  },
  {
    path: "image.source_image",
    kind: "image",
    value: fc.oneof(
      invalidName.map((n) => `projects/debian-cloud/global/images/${n}`),
      resourceName,
    ),
    apply: (r, v) => (image(r).sourceImage = v),
  },
  {
    path: "image.source_snapshot",
    kind: "snapshot",
    value: fc.oneof(
      invalidName.map((n) => `global/snapshots/${n}`),
      resourceName.map((n) => `projects/${n}`),
    ),
    apply: (r, v) => (image(r).sourceSnapshot = v),
  },
  {
    path: 'image.labels["Bad Key"]',
    value: fc.constant("Bad Key"),
    apply: (r, v) => (image(r).labels[v] = "ok"),
  },
  {
    path: 'image.labels["zz-key"]',
    value: fc.constantFrom("Prod", "a b", "v".repeat(64), "x.y"),
    apply: (r, v) => (image(r).labels["zz-key"] = v),
  },
  {
    path: "image.guest_os_features[0].type",
    value: fc.oneof(
      fc.constantFrom(...GUEST_OS_FEATURE_TYPES).map((t) => t.toLowerCase()),
      fc.stringMatching(/^[A-Z_]{1,20}$/).filter((t) => !GUEST_OS_FEATURE_TYPES.includes(t)),
    ),
    apply: (r, v) => {
      // One bad feature in front, keeping the list within its limit (each type at most once).
      const features = image(r).guestOsFeatures;
      if (features.length >= GUEST_OS_FEATURE_TYPES.length) features.pop();
      features.unshift({ $typeName: "computeimages.v1.GuestOsFeature", type: v });
    },
  },
  {
    path: "image.architecture",
    value: fc.string({ minLength: 1 }).filter((a) => a !== "ARM64" && a !== "X86_64"),
    apply: (r, v) => (image(r).architecture = v),
  },
  {
    path: "image.disk_size_gb",
    value: fc.bigInt({ min: -(2n ** 63n), max: -1n }).map(String),
    apply: (r, v) => (image(r).diskSizeGb = BigInt(v)),
  },
  {
    path: "image.storage_locations",
    value: fc.constantFrom("us,eu", "us-central1,us-east1", "asia,us,eu"),
    apply: (r, v) => (image(r).storageLocations = v.split(",")),
  },
  {
    path: "request_id",
    value: fc.oneof(
      fc.constant("00000000-0000-0000-0000-000000000000"),
      uuid.map((u) => u.replaceAll("-", "")),
      uuid.map((u) => `${u}0`),
      fc.stringMatching(/^[g-z]{1,36}$/),
    ),
    apply: (r, v) => (r.requestId = v),
  },
];

describe("validateCreateImageRequest (properties)", () => {
  it("accepts every generated valid request", () => {
    fc.assert(
      fc.property(validRequest(), (req) => {
        expect(validateCreateImageRequest(req)).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });

  it.each(mutations.map((m) => [m.path, m] as const))(
    "reports a mutation of %s at exactly that path",
    (_, mutation) => {
      fc.assert(
        fc.property(validRequest(mutation.kind), mutation.value, (valid, value) => {
          const req = clone(CreateImageRequestSchema, valid);
          mutation.apply(req, value);
          expect(validateCreateImageRequest(req).map((v) => v.field)).toEqual([mutation.path]);
        }),
        { numRuns: 300 },
      );
    },
  );
});
