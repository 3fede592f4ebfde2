import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { isRetryable } from "./import-command";

describe("isRetryable: whether an import keeps its finished upload after CreateImage fails", () => {
  it("keeps it for every refusal a later try may not get", () => {
    for (const code of [
      Code.Unavailable,
      Code.Internal,
      Code.DeadlineExceeded,
      Code.Unknown,
      Code.Aborted,
    ])
      expect(isRetryable(new ConnectError("x", code)), Code[code]).toBe(true);
    const quota = new ConnectError("slow down", Code.ResourceExhausted, undefined, [
      { desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: { seconds: 3n } }) },
    ]);
    expect(isRetryable(quota)).toBe(true);
  });

  it("drops it for a refusal for good", () => {
    for (const code of [
      Code.InvalidArgument,
      Code.AlreadyExists,
      Code.PermissionDenied,
      Code.FailedPrecondition,
      Code.ResourceExhausted, // no RetryInfo: too big, not too soon
    ])
      expect(isRetryable(new ConnectError("x", code)), Code[code]).toBe(false);
  });
});
