import { clone, create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Operation_Status, OperationSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { preEncoded } from "./encode-once";

const update = create(OperationSchema, {
  name: "operation-1",
  project: "p",
  status: Operation_Status.RUNNING,
  progress: 40,
  targetLink: "https://compute.googleapis.com/compute/v1/projects/p/global/images/i",
  error: { errors: [{ code: "QUOTA_EXCEEDED", message: "Quota 'IMAGES' exceeded." }] },
  warnings: [{ code: "SINGLE_WEB_WARNING", message: "w", data: [{ key: "k", value: "v" }] }],
});

describe("preEncoded", () => {
  it("encodes to the update's own bytes, and is made once per update", () => {
    const standIn = preEncoded(OperationSchema, update);
    expect(Buffer.from(toBinary(OperationSchema, standIn))).toEqual(
      Buffer.from(toBinary(OperationSchema, update)),
    );
    expect(preEncoded(OperationSchema, update)).toBe(standIn);
    // A fresh update of the same content is a fresh stand-in: the cache is by object.
    const again = clone(OperationSchema, update);
    expect(preEncoded(OperationSchema, again)).not.toBe(standIn);
  });

  it("is not for JSON: a stand-in carries no known field", () => {
    expect(toJsonString(OperationSchema, preEncoded(OperationSchema, update))).toBe("{}");
  });
});
