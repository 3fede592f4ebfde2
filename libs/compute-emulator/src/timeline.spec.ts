import { describe, expect, it } from "vitest";
import { phaseAt, progressAt } from "./timeline";

describe("timeline", () => {
  const t = { insertedAt: 1000, durationMs: 1000 };

  it("is PENDING for the first tenth, RUNNING with rising progress, then DONE at 100", () => {
    expect([1000, 1099, 1100, 1550, 1999, 2000, 5000].map((now) => phaseAt(t, now))).toEqual([
      "PENDING",
      "PENDING",
      "RUNNING",
      "RUNNING",
      "RUNNING",
      "DONE",
      "DONE",
    ]);
    expect([1000, 1100, 1550, 1999, 2000].map((now) => progressAt(t, now))).toEqual([
      0, 0, 50, 99, 100,
    ]);
  });

  it("never lowers progress as time passes", () => {
    let last = -1;
    for (let now = 900; now <= 2100; now += 7) {
      const p = progressAt(t, now);
      expect(p).toBeGreaterThanOrEqual(last);
      last = p;
    }
  });

  it("is DONE at once when the duration is 0", () => {
    expect(phaseAt({ insertedAt: 5, durationMs: 0 }, 5)).toBe("DONE");
    expect(progressAt({ insertedAt: 5, durationMs: 0 }, 5)).toBe(100);
  });
});
