import { describe, expect, it } from "vitest";
import { type ComputeFault } from "./compute-error";
import { Quotas } from "./quota";

const quotas = (writesPerMinute: number, readsPerMinute: number, timeScale = 1) =>
  new Quotas(
    () => ({ writesPerMinute, readsPerMinute }),
    () => timeScale,
  );
const refusedAt = (q: Quotas, method: string, project: string, now: number) => {
  try {
    q.take(method, project, now);
    return undefined;
  } catch (e) {
    return e as ComputeFault;
  }
};

describe("Compute's rate quotas", () => {
  it("allows a minute's calls at once, then refuses with 403 rateLimitExceeded until they refill", () => {
    const q = quotas(3, 0);
    for (let i = 0; i < 3; i++) expect(refusedAt(q, "images.insert", "p", 0)).toBeUndefined();
    const refused = refusedAt(q, "images.insert", "p", 0);
    expect(refused).toMatchObject({ status: 403, reason: "rateLimitExceeded" });
    expect(refused?.message).toMatch(/^Quota exceeded for quota metric 'Queries'/);
    // 3 per minute: one more every 20 s.
    expect(refusedAt(q, "images.insert", "p", 19_999)).toBeDefined();
    expect(refusedAt(q, "images.insert", "p", 40_000)).toBeUndefined();
    expect(q.refusals()).toEqual({ p: { write: 2, read: 0 } });
  });

  it("keeps projects and kinds apart, and leaves unlimited kinds alone", () => {
    const q = quotas(1, 2);
    expect(refusedAt(q, "images.insert", "a", 0)).toBeUndefined();
    expect(refusedAt(q, "images.insert", "b", 0)).toBeUndefined();
    expect(refusedAt(q, "images.insert", "a", 0)).toBeDefined();
    expect(refusedAt(q, "globalOperations.wait", "a", 0)).toBeUndefined();
    expect(refusedAt(q, "images.get", "a", 0)).toBeUndefined();
    expect(refusedAt(q, "globalOperations.get", "a", 0)?.message).toMatch(/'Read requests'/);
    expect(refusedAt(q, "metadata.token", "a", 0)).toBeUndefined();
    const free = quotas(0, 0);
    for (let i = 0; i < 1000; i++) expect(refusedAt(free, "images.insert", "a", 0)).toBeUndefined();
  });

  it("refills on Compute's time: timeScale times faster", () => {
    const q = quotas(60, 0, 100); // one a second in Compute's time, one per 10 ms here
    for (let i = 0; i < 60; i++) q.take("images.insert", "p", 0);
    expect(refusedAt(q, "images.insert", "p", 5)).toBeDefined();
    expect(refusedAt(q, "images.insert", "p", 15)).toBeUndefined();
  });
});
