import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLockWatch, LockLostError, type LockWatch } from "./lock-watch";

describe("createLockWatch", () => {
  /** A watch over locks of 1 s, closed after each test; `lost` lists the jobs it stopped. */
  let watch: LockWatch;
  let lost: string[];
  beforeEach(() => {
    vi.useFakeTimers();
    lost = [];
    watch = createLockWatch({ lockDurationMs: 1000, onLost: (id) => lost.push(id) });
  });
  afterEach(() => {
    watch.close();
    vi.useRealTimers();
  });

  it("stops a job at its first failed lock renewal, with a LockLostError", () => {
    const a = watch.track("a");
    const b = watch.track("b");
    watch.failed(["a"]);
    expect(a.signal.aborted).toBe(true);
    expect(a.signal.reason).toBeInstanceOf(LockLostError);
    expect(b.signal.aborted).toBe(false);
    expect(lost).toEqual(["a"]);
  });

  it("stops a job whose lock no renewal has confirmed for three quarters of its duration", () => {
    const job = watch.track("a");
    vi.advanceTimersByTime(700);
    expect(job.signal.aborted).toBe(false);
    vi.advanceTimersByTime(200);
    expect(job.signal.aborted).toBe(true);
    expect(String(job.signal.reason)).toMatch(/no lock renewal confirmed for \d+ ms/);
  });

  it("keeps a job whose renewals keep coming, and forgets a released one", () => {
    const kept = watch.track("kept");
    const released = watch.track("released");
    released.release();
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(400);
      watch.renewed(["kept"]);
    }
    expect(kept.signal.aborted).toBe(false);
    watch.failed(["released"]);
    expect(released.signal.aborted).toBe(false);
  });

  it("tracks a re-taken job afresh: the old run's release does not forget the new one", () => {
    const first = watch.track("a");
    const second = watch.track("a");
    first.release();
    watch.failed(["a"]);
    expect(second.signal.aborted).toBe(true);
  });

  it("stops a job at once when asked to confirm a lock in doubt, before the watch's next tick", () => {
    const job = watch.track("a");
    watch.confirm("a");
    expect(job.signal.aborted).toBe(false);
    // The process was paused: the clock moved on, and no timer has run since.
    vi.setSystemTime(Date.now() + 900);
    watch.confirm("a");
    expect(job.signal.aborted).toBe(true);
    expect(lost).toEqual(["a"]);
  });
});
