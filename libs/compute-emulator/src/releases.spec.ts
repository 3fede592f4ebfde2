import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ComputeFault } from "./compute-error";
import {
  EMPTY_POLICY,
  labelFingerprint,
  parseDeprecation,
  parseSetIamPolicy,
  parseSetLabels,
} from "./releases";

const status = (e: unknown) => (e instanceof ComputeFault ? [e.status, e.reason] : e);
const thrown = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return status(e);
  }
  throw new Error("expected a refusal");
};

describe("parseDeprecation", () => {
  it("clears with an empty body or ACTIVE, keeps the rest as given", () => {
    expect(parseDeprecation({})).toBeUndefined();
    expect(
      parseDeprecation({ state: "ACTIVE", replacement: "projects/p/global/images/x" }),
    ).toBeUndefined();
    expect(
      parseDeprecation({
        state: "OBSOLETE",
        replacement: "https://compute.googleapis.com/compute/v1/projects/p/global/images/web-2",
        deleted: "2027-01-01T00:00:00Z",
      }),
    ).toEqual({
      state: "OBSOLETE",
      replacement: "https://compute.googleapis.com/compute/v1/projects/p/global/images/web-2",
      deleted: "2027-01-01T00:00:00Z",
    });
  });

  it.each([
    [{ state: "GONE" }, [400, "invalid"]],
    [{ replacement: "projects/p/global/images/x" }, [400, "required"]],
    [{ state: "DEPRECATED", replacement: "web-2" }, [400, "invalid"]],
    [{ state: "DEPRECATED", obsolete: "tomorrow" }, [400, "invalid"]],
    [{ state: "DEPRECATED", when: "now" }, [400, "invalid"]],
  ])("refuses %j", (body, expected) => {
    expect(thrown(() => parseDeprecation(body))).toEqual(expected);
  });
});

describe("labelFingerprint and parseSetLabels", () => {
  it("is Compute's empty fingerprint for no labels, and the same for the same labels in any order", () => {
    expect(labelFingerprint(undefined)).toBe("42WmSpB8rSM=");
    expect(labelFingerprint({})).toBe("42WmSpB8rSM=");
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[a-z]{1,5}$/), fc.stringMatching(/^[a-z]{0,5}$/)),
        (labels) => {
          const reversed = Object.fromEntries(Object.entries(labels).reverse());
          expect(labelFingerprint(reversed)).toBe(labelFingerprint(labels));
        },
      ),
    );
    expect(labelFingerprint({ a: "1" })).not.toBe(labelFingerprint({ a: "2" }));
  });

  it("takes new labels under the current fingerprint only", () => {
    const current = { env: "prod" };
    expect(
      parseSetLabels(
        { labels: { env: "dev" }, labelFingerprint: labelFingerprint(current) },
        current,
      ),
    ).toEqual({
      env: "dev",
    });
    expect(
      thrown(() => parseSetLabels({ labels: {}, labelFingerprint: "42WmSpB8rSM=" }, current)),
    ).toEqual([412, "conditionNotMet"]);
    expect(thrown(() => parseSetLabels({ labels: {} }, current))).toEqual([400, "required"]);
    expect(
      thrown(() =>
        parseSetLabels(
          { labels: { Env: "x" }, labelFingerprint: labelFingerprint(current) },
          current,
        ),
      ),
    ).toEqual([400, "invalid"]);
  });
});

describe("parseSetIamPolicy", () => {
  const binding = {
    role: "roles/compute.imageUser",
    members: ["group:b@example.com", "user:a@example.com"],
  };

  it("replaces the policy under the current etag, with a new etag", () => {
    const next = parseSetIamPolicy({ policy: { bindings: [binding], etag: "ACAB" } }, EMPTY_POLICY);
    expect(next.bindings).toEqual([binding]);
    expect(next.etag).not.toBe("ACAB");
    // Without an etag the write is unconditional, as IAM's is.
    expect(parseSetIamPolicy({ policy: { bindings: [] } }, next).bindings).toEqual([]);
  });

  const current = parseSetIamPolicy(
    { policy: { bindings: [binding], etag: "ACAB" } },
    EMPTY_POLICY,
  );
  it.each([
    ["a stale etag", { policy: { bindings: [], etag: "ACAB" } }, [412, "conditionNotMet"]],
    [
      "a role IAM has not",
      { policy: { bindings: [{ role: "imageUser", members: ["user:a@b"] }] } },
      [400, "invalid"],
    ],
    [
      "a member without its kind",
      { policy: { bindings: [{ role: "roles/x", members: ["a@b.com"] }] } },
      [400, "invalid"],
    ],
    ["no policy", {}, [400, "required"]],
  ])("refuses %s", (_what, body, expected) => {
    expect(thrown(() => parseSetIamPolicy(body, current))).toEqual(expected);
  });

  it("merges one role's bindings into one, each member once", () => {
    const next = parseSetIamPolicy(
      {
        policy: {
          bindings: [
            { role: "roles/compute.imageUser", members: ["user:a@example.com"] },
            {
              role: "roles/compute.imageUser",
              members: ["user:a@example.com", "allAuthenticatedUsers"],
            },
          ],
        },
      },
      EMPTY_POLICY,
    );
    expect(next.bindings).toEqual([
      { role: "roles/compute.imageUser", members: ["allAuthenticatedUsers", "user:a@example.com"] },
    ]);
  });
});
