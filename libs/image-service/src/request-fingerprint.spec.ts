import { clone, create, toBinary } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { CreateImageRequestSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { requestFingerprint } from "./request-fingerprint";

const base = {
  project: "my-project",
  requestId: "3F1C2A9E-8D7B-4C6A-9E5F-1A2B3C4D5E6F",
  image: { name: "web", sourceImage: "global/images/base" },
};

describe("requestFingerprint", () => {
  it("is the same for the same request, whatever the label order or request id case", () => {
    const a = create(CreateImageRequestSchema, {
      ...base,
      image: { ...base.image, labels: { a: "1", b: "2" } },
    });
    const b = create(CreateImageRequestSchema, {
      ...base,
      requestId: base.requestId.toLowerCase(),
      image: { ...base.image, labels: { b: "2", a: "1" } },
    });
    expect(requestFingerprint(a)).toBe(requestFingerprint(b));
  });

  it("differs when anything asked for differs", () => {
    const a = requestFingerprint(create(CreateImageRequestSchema, base));
    expect(
      requestFingerprint(create(CreateImageRequestSchema, { ...base, forceCreate: true })),
    ).not.toBe(a);
    expect(
      requestFingerprint(
        create(CreateImageRequestSchema, { ...base, image: { ...base.image, name: "web2" } }),
      ),
    ).not.toBe(a);
    expect(
      requestFingerprint(create(CreateImageRequestSchema, { ...base, project: "other-project" })),
    ).not.toBe(a);
  });

  it("keeps the digest of earlier releases: the canonical request's bytes, whatever its fields", () => {
    // The original definition, a deep clone made canonical: gateways of both releases must agree.
    const reference = (request: ReturnType<typeof create<typeof CreateImageRequestSchema>>) => {
      const canonical = clone(CreateImageRequestSchema, request);
      canonical.requestId = canonical.requestId.toLowerCase();
      if (canonical.image !== undefined)
        canonical.image.labels = Object.fromEntries(
          Object.entries(canonical.image.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        );
      return createHash("sha256")
        .update(toBinary(CreateImageRequestSchema, canonical))
        .digest("base64url");
    };
    fc.assert(
      fc.property(
        fc.string(),
        fc.dictionary(fc.string(), fc.string()),
        fc.boolean(),
        fc.option(fc.string(), { nil: undefined }),
        (requestId, labels, forceCreate, description) => {
          const request = create(CreateImageRequestSchema, {
            ...base,
            requestId,
            forceCreate,
            image: { ...base.image, labels, ...(description !== undefined && { description }) },
          });
          const before = clone(CreateImageRequestSchema, request);
          expect(requestFingerprint(request)).toBe(reference(request));
          // And the request itself is left as it was.
          expect(request).toEqual(before);
        },
      ),
    );
    expect(requestFingerprint(create(CreateImageRequestSchema, base))).toBe(
      "xQZKA7KGKBQZTo33KNIwEyiDgzic9J1fnLIx6lNRToQ",
    );
  });
});
