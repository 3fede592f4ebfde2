import { describe, expect, it, vi } from "vitest";
import { backoffDelay, sleep } from "./backoff";

describe("backoffDelay", () => {
  it("doubles its ceiling per attempt and keeps between half and all of it", () => {
    const low = (attempt: number) =>
      backoffDelay(attempt, { initialMs: 100, maxMs: 10_000, random: () => 0 });
    const high = (attempt: number) =>
      backoffDelay(attempt, { initialMs: 100, maxMs: 10_000, random: () => 0.999999 });
    expect([0, 1, 2, 3].map(low)).toEqual([50, 100, 200, 400]);
    expect(high(3)).toBeCloseTo(800, 0);
  });

  it("never exceeds maxMs however many attempts", () => {
    for (const attempt of [10, 50, 1000]) {
      expect(
        backoffDelay(attempt, { initialMs: 100, maxMs: 5000, random: () => 0.999999 }),
      ).toBeLessThanOrEqual(5000);
    }
  });
});

describe("sleep", () => {
  it("rejects with the signal's reason when aborted", async () => {
    const controller = new AbortController();
    const pending = sleep(60_000, controller.signal);
    controller.abort(new Error("stop"));
    await expect(pending).rejects.toThrow("stop");
  });

  it("takes no timer for no pause, and still honours an aborted signal", async () => {
    vi.useFakeTimers();
    try {
      await sleep(0); // resolves without the clock moving
      await sleep(-5);
      expect(vi.getTimerCount()).toBe(0);
      const controller = new AbortController();
      controller.abort(new Error("stop"));
      await expect(sleep(0, controller.signal)).rejects.toThrow("stop");
      const pending = sleep(1000);
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(1000);
      await pending;
    } finally {
      vi.useRealTimers();
    }
  });
});
