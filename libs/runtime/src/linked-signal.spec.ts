import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { linkedSignal } from "./linked-signal";

describe("linkedSignal", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("aborts with the reason of whichever source aborts first", () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkedSignal([a.signal, b.signal], 60_000);
    b.abort(new Error("shutting down"));
    a.abort(new Error("later"));
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toEqual(new Error("shutting down"));
    expect(linked.timedOut).toBe(false);
  });

  it("is aborted at once when a source already is", () => {
    const a = new AbortController();
    a.abort("gone");
    const linked = linkedSignal([new AbortController().signal, a.signal], 10);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe("gone");
  });

  it("times out with a TimeoutError, and says so", () => {
    vi.useFakeTimers();
    const source = new AbortController();
    const linked = linkedSignal([source.signal], 1000);
    vi.advanceTimersByTime(999);
    expect(linked.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.timedOut).toBe(true);
    expect((linked.signal.reason as DOMException).name).toBe("TimeoutError");
    expect(getEventListeners(source.signal, "abort")).toHaveLength(0);
  });

  it("holds nothing once released: no listener on its sources, no timer", () => {
    vi.useFakeTimers();
    const source = new AbortController();
    const linked = linkedSignal([source.signal], 1000);
    expect(getEventListeners(source.signal, "abort")).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(1);
    linked.release();
    expect(getEventListeners(source.signal, "abort")).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
    source.abort();
    vi.advanceTimersByTime(5000);
    expect(linked.signal.aborted).toBe(false);
  });

  it("does not pile listeners on a long-lived source, however many it links", () => {
    const stopping = new AbortController();
    for (let i = 0; i < 1000; i++) linkedSignal([stopping.signal]).release();
    expect(getEventListeners(stopping.signal, "abort")).toHaveLength(0);
    const live = linkedSignal([stopping.signal]);
    stopping.abort(new Error("stop"));
    expect(live.signal.reason).toEqual(new Error("stop"));
  });
});
