import { describe, expect, it } from "vitest";
import { StreamDrain } from "./drain";

describe("StreamDrain", () => {
  it("aborts a stream's signal with its request's reason", () => {
    const drain = new StreamDrain();
    const request = new AbortController();
    const { signal, release } = drain.join(request.signal);
    request.abort(new Error("client left"));
    expect((signal.reason as Error).message).toBe("client left");
    release();
    expect(drain.size).toBe(0);
  });

  it("aborts every open stream, and each later one, with the drain's reason", () => {
    const drain = new StreamDrain();
    const streams = Array.from({ length: 3 }, () => drain.join(new AbortController().signal));
    drain.drain(new Error("shutting down"));
    for (const { signal } of streams)
      expect((signal.reason as Error).message).toBe("shutting down");
    const late = drain.join(new AbortController().signal);
    expect(late.signal.aborted).toBe(true);
  });

  it("leaves no listener on a request signal after release", () => {
    const drain = new StreamDrain();
    const request = new AbortController();
    for (let i = 0; i < 100; i++) drain.join(request.signal).release();
    request.abort();
    expect(drain.size).toBe(0);
  });
});
