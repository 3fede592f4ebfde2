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

  it("lets a target's call through after maxFailureStreak failures in a row, per target", () => {
    const f = new Faults(1, [{ route: "*", effect: "error", status: 503 }], 2);
    const run = (target: string) => {
      const d = f.decide("images.insert", target);
      return d.before instanceof ComputeFault ? d.before.status : "ok";
    };
    expect([run("a"), run("a"), run("b"), run("a"), run("a"), run("a"), run("a")]).toEqual([
      503,
      503,
      503,
      "ok",
      503,
      503,
      "ok",
    ]);
    expect(status(f, "images.insert")).toBe(503); // no target: no limit
  });

  it("never fails one target more than the streak, whatever the rates draw", () => {
    const f = new Faults(
      9,
      [
        { route: "*", effect: "error", status: 503, rate: 0.5 },
        { route: "*", effect: "reset", rate: 0.3 },
      ],
      3,
    );
    let run = 0;
    let longest = 0;
    for (let i = 0; i < 5000; i++) {
      const d = f.decide("globalOperations.wait", "op");
      run = d.before === undefined ? 0 : run + 1;
      longest = Math.max(longest, run);
    }
    expect(longest).toBe(3);
  });
});
