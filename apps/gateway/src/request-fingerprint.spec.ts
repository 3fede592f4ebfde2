import { create } from "@bufbuild/protobuf";
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
});
