import { create, fromBinary } from "@bufbuild/protobuf";
import { OperationSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { messageBytes } from "./codec";

describe("messageBytes", () => {
  it("encodes one update once for every stream that sends it, and each update anew", () => {
    const update = create(OperationSchema, { name: "operation-1", version: 3, progress: 40 });
    const first = messageBytes(OperationSchema, update);
    // A second watcher of the same update gets the same bytes, not a second encoding.
    expect(messageBytes(OperationSchema, update)).toBe(first);
    expect(fromBinary(OperationSchema, first)).toEqual(update);
    const next = create(OperationSchema, { name: "operation-1", version: 4, progress: 50 });
    expect(fromBinary(OperationSchema, messageBytes(OperationSchema, next)).version).toBe(4);
  });
});
