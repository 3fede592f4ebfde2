import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { BadRequestSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { invalidArgument } from "./connect-error";

const violations = [
  { field: "image.name", description: "is required" },
  { field: "image.raw_disk.source", description: 'use "https://storage.googleapis.com/b/o"' },
];

describe("invalidArgument", () => {
  it("is INVALID_ARGUMENT carrying every violation as google.rpc.BadRequest", () => {
    const err = invalidArgument(violations);
    expect(err.code).toBe(Code.InvalidArgument);
    const [detail, ...rest] = err.findDetails(BadRequestSchema);
    expect(rest).toEqual([]);
    expect(
      detail?.fieldViolations.map((v) => ({ field: v.field, description: v.description })),
    ).toEqual(violations);
  });

  it("lists every violation in the message for clients that show only the message", () => {
    const err = invalidArgument(violations);
    expect(err.rawMessage).toBe(
      'invalid request:\nimage.name: is required\nimage.raw_disk.source: use "https://storage.googleapis.com/b/o"',
    );
  });

  it("stays a few KB whatever the request: at most 20 violations, each cut short, the rest counted", () => {
    const many = Array.from({ length: 10_000 }, (_, i) => ({
      field: `image.labels[${JSON.stringify(`k${i}${"x".repeat(5000)}`)}]`,
      description: `the value ${"y".repeat(5000)} is bad`,
    }));
    const err = invalidArgument(many);
    const [detail] = err.findDetails(BadRequestSchema);
    expect(detail?.fieldViolations).toHaveLength(21);
    expect(detail?.fieldViolations.at(-1)).toMatchObject({
      field: "request",
      description: "has 9980 more violations, not listed; fix these and send it again",
    });
    for (const v of detail?.fieldViolations ?? []) {
      expect(v.field.length).toBeLessThanOrEqual(120);
      expect(v.description.length).toBeLessThanOrEqual(240);
    }
    const bytes =
      Buffer.byteLength(err.rawMessage) +
      toBinary(BadRequestSchema, detail ?? create(BadRequestSchema)).length;
    expect(bytes).toBeLessThan(16_000);
  });
});
