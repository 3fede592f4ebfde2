import { describe, expect, it } from "vitest";
import { ComputeFault } from "./compute-error";
import { Faults } from "./faults";

const status = (f: Faults, route: string) => {
  const d = f.decide(route);
  return d.before instanceof ComputeFault ? d.before.status : (d.before ?? "ok");
};

describe("Faults", () => {
  it("fires a counted rule on the next N matching calls only", () => {
    const f = new Faults(1, [{ route: "images.insert", effect: "error", status: 503, count: 2 }]);
    expect([
      status(f, "images.get"),
      status(f, "images.insert"),
      status(f, "images.insert"),
      status(f, "images.insert"),
    ]).toEqual(["ok", 503, 503, "ok"]);
    expect(f.list()).toEqual([]);
  });

  it("spends a later rule's count only on calls it actually fails", () => {
    const f = new Faults(1, [
      { route: "*", effect: "error", status: 503, count: 1 },
      { route: "*", effect: "error", status: 429, count: 1 },
    ]);
    expect([status(f, "x"), status(f, "x"), status(f, "x")]).toEqual([503, 429, "ok"]);
  });

  it("gives Compute's reasons, 403 included", () => {
    const f = new Faults(1, [{ route: "*", effect: "error", status: 403 }]);
    const d = f.decide("images.insert");
    expect(d.before).toBeInstanceOf(ComputeFault);
    expect((d.before as ComputeFault).reason).toBe("rateLimitExceeded");
  });

  it("adds latencies, keeps after-phase faults apart, and flags early waits", () => {
    const f = new Faults(1, [
      { route: "*", effect: "latency", latencyMs: 5 },
      { route: "*", effect: "latency", latencyMs: 7 },
      { route: "images.insert", effect: "reset", phase: "after" },
      { route: "globalOperations.wait", effect: "waitEarly" },
    ]);
    expect(f.decide("images.insert")).toEqual({ latencyMs: 12, waitEarly: false, after: "reset" });
    expect(f.decide("globalOperations.wait")).toEqual({ latencyMs: 12, waitEarly: true });
  });

  it("draws rates from the seed, and restarts the sequence on clear", () => {
    const draw = (f: Faults) => Array.from({ length: 30 }, () => status(f, "x"));
    const rule = { route: "*", effect: "error", status: 500, rate: 0.3 } as const;
    const a = new Faults(42, [rule]);
    const first = draw(a);
    expect(draw(new Faults(42, [rule]))).toEqual(first);
    a.clear();
    a.add(rule);
    expect(draw(a)).toEqual(first);
  });
});
