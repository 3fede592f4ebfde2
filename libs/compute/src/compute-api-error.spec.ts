import { describe, expect, it } from "vitest";
import { ComputeApiError, classify } from "./compute-api-error";

const body = (code: number, reason: string, message = "m") =>
  JSON.stringify({ error: { code, message, errors: [{ domain: "global", reason, message }] } });

describe("classify", () => {
  it.each([
    [429, "rateLimitExceeded", "retryable"],
    [403, "rateLimitExceeded", "retryable"],
    [403, "userRateLimitExceeded", "retryable"],
    [500, "backendError", "retryable"],
    [502, "backendError", "retryable"],
    [503, "backendError", "retryable"],
    [504, "backendError", "retryable"],
    [0, "networkError", "retryable"],
    [401, "authError", "refresh-credentials"],
    [400, "invalid", "final"],
    [403, "forbidden", "final"],
    [403, "quotaExceeded", "final"],
    [404, "notFound", "final"],
    [409, "alreadyExists", "final"],
    [412, "conditionNotMet", "final"],
  ] as const)("treats %i %s as %s", (status, reason, kind) => {
    expect(classify(status, reason)).toBe(kind);
  });
});

describe("ComputeApiError.fromResponse", () => {
  it("reads Compute's error body", () => {
    const e = ComputeApiError.fromResponse(
      409,
      body(409, "alreadyExists", "The resource 'projects/p/global/images/web' already exists"),
      null,
    );
    expect(e).toMatchObject({
      httpStatus: 409,
      reason: "alreadyExists",
      retryable: false,
      kind: "final",
    });
    expect(e.message).toBe("The resource 'projects/p/global/images/web' already exists");
    expect(e.errors).toEqual([{ domain: "global", reason: "alreadyExists", message: e.message }]);
  });

  it("classifies a 403 by its reason", () => {
    expect(ComputeApiError.fromResponse(403, body(403, "rateLimitExceeded"), null).retryable).toBe(
      true,
    );
    expect(ComputeApiError.fromResponse(403, body(403, "forbidden"), null).retryable).toBe(false);
  });

  it("copes with a body that is not Compute's JSON", () => {
    const e = ComputeApiError.fromResponse(502, "<html>Bad Gateway</html>", null);
    expect(e).toMatchObject({ httpStatus: 502, reason: "http502", retryable: true });
    expect(e.message).toContain("Bad Gateway");
  });

  it("honours Retry-After in seconds", () => {
    expect(
      ComputeApiError.fromResponse(429, body(429, "rateLimitExceeded"), "7").retryAfterMs,
    ).toBe(7000);
    expect(
      ComputeApiError.fromResponse(429, body(429, "rateLimitExceeded"), null).retryAfterMs,
    ).toBeUndefined();
  });
});
