import { describe, expect, it } from "vitest";
import { SpanKind, startStep } from "./tracing";

describe("startStep", () => {
  it("keeps the caller's trace id and hands on a traceparent", () => {
    const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const step = startStep("CreateImage", incoming, SpanKind.SERVER);
    expect(step.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(step.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-0[01]$/);
    step.span.end();
  });

  it("starts a fresh trace when there is no valid traceparent", () => {
    for (const incoming of [
      undefined,
      "garbage",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    ]) {
      const step = startStep("CreateImage", incoming, SpanKind.SERVER);
      expect(step.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(step.traceId).not.toBe("00000000000000000000000000000000");
      expect(step.traceparent).toContain(step.traceId);
    }
  });
});
