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
});
