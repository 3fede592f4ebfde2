import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { isRetryable } from "./import-command";

describe("isRetryable: whether an import keeps its finished upload after CreateImage fails", () => {
  it.each(["Unavailable", "Internal", "DeadlineExceeded", "Unknown", "Aborted"] as const)(
    "keeps it for %s, a refusal a later try may not get",
    (code) => {
      expect(isRetryable(new ConnectError("x", Code[code]))).toBe(true);
    },
  );

  it("keeps it for a quota refusal that says when to try again", () => {
    const quota = new ConnectError("slow down", Code.ResourceExhausted, undefined, [
      { desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: { seconds: 3n } }) },
    ]);
    expect(isRetryable(quota)).toBe(true);
  });

  // ResourceExhausted without RetryInfo: too big, not too soon.
  it.each([
    "InvalidArgument",
    "AlreadyExists",
    "PermissionDenied",
    "FailedPrecondition",
    "ResourceExhausted",
  ] as const)("drops it for %s, a refusal for good", (code) => {
    expect(isRetryable(new ConnectError("x", Code[code]))).toBe(false);
  });
});
