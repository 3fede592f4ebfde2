// Model-checks the lifecycle: `decide` drives a small in-memory Compute (images, requestIds that
// expire, operations that Compute forgets after a while) through random faults, re-runs and
// cancels, and every history must keep the rules of docs/design.md.
import { create } from "@bufbuild/protobuf";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decide, type Effect, type Subject } from "./decide";
import type { CallFailure, LifecycleEvent } from "./events";
import { ACCEPTED, type Lifecycle } from "./lifecycle";
import { OWNERSHIP_LABEL } from "./ownership";
import { lifecyclePolicy } from "./policy";

const RID = "5b1c7a7e-0f7e-4a8e-9a65-3f1f7d6f0c11";
const WAIT_CAP = 120_000;

type Fault =
  | "ok"
  | "before503"
  | "before429"
  | "after503"
  | "afterReset"
  | "final403"
  | "early"
  | "unauthorized";

interface Scenario {
  readonly durationMs: number;
  readonly ttlMs: number;
  readonly retentionMs: number;
  readonly asyncFailure: boolean;
  readonly foreignImage: boolean;
  /** One fault per Compute call, in order; once used up, calls succeed. */
  readonly faults: readonly Fault[];
  /** Step number → a cancel, or a re-run (the worker died and the job runs again). */
  readonly interrupts: readonly { readonly at: number; readonly kind: "cancel" | "rerun" }[];
}

interface ModelImage {
  readonly id: string;
  readonly labels: Record<string, string>;
  readonly readyAt: number;
  readonly fails: boolean;
}
interface ModelOperation {
  readonly name: string;
  readonly image: ModelImage;
  readonly goneAt: number;
}

/** A Compute that keeps its own rules: one image per name, requestIds remembered for a while. */
class ModelCompute {
  t = 1_800_000_000_000;
  readonly images = new Map<string, ModelImage>();
  private readonly requestIds = new Map<string, { op: ModelOperation; expiresAt: number }>();
  private readonly operations = new Map<string, ModelOperation>();
  private next = 1;
  private faultIndex = 0;
  insertsSent = 0;

  constructor(private readonly s: Scenario) {
    if (s.foreignImage)
      this.images.set("web", {
        id: "9",
        labels: { [OWNERSHIP_LABEL]: "other" },
        readyAt: 0,
        fails: false,
      });
  }

  private fault(): Fault {
    return this.s.faults[this.faultIndex++] ?? "ok";
  }

  private opJson(op: ModelOperation): Operation {
    const done = this.t >= op.image.readyAt;
    return create(OperationSchema, {
      name: op.name,
      status: done ? Operation_Status.DONE : Operation_Status.RUNNING,
      progress: done ? 100 : 50,
      targetId: op.image.id,
      selfLink: `https://c/compute/v1/projects/p-1/global/operations/${op.name}`,
      ...(done &&
        op.image.fails && {
          error: { errors: [{ code: "INVALID_IMAGE_TAR", message: "bad" }] },
          httpErrorStatusCode: 400,
        }),
    });
  }

  insert(requestId: string): LifecycleEvent {
    this.insertsSent += 1;
    const fault = this.fault();
    if (fault === "before503") return failed("insertFailed", err(503), this.t);
    if (fault === "before429") return failed("insertFailed", err(429), this.t);
    if (fault === "final403") return failed("insertFailed", err(403), this.t);
    let answer: LifecycleEvent;
    const seen = this.requestIds.get(requestId);
    if (seen !== undefined && seen.expiresAt > this.t) {
      answer = { type: "inserted", operation: this.opJson(seen.op), now: this.t };
    } else if (this.images.has("web")) {
      answer = failed("insertFailed", err(409), this.t);
    } else {
      const image: ModelImage = {
        id: String(100 + this.next),
        labels: { [OWNERSHIP_LABEL]: requestId },
        readyAt: this.t + this.s.durationMs,
        fails: this.s.asyncFailure,
      };
      const op = {
        name: `operation-${this.next++}`,
        image,
        goneAt: image.readyAt + this.s.retentionMs,
      };
      this.images.set("web", image);
      this.operations.set(op.name, op);
      this.requestIds.set(requestId, { op, expiresAt: this.t + this.s.ttlMs });
      answer = { type: "inserted", operation: this.opJson(op), now: this.t };
    }
    if (fault === "after503") return failed("insertFailed", err(503), this.t);
    if (fault === "afterReset") return failed("insertFailed", err(0), this.t);
    return answer;
  }

  wait(name: string): LifecycleEvent {
    const fault = this.fault();
    if (fault === "before503" || fault === "after503")
      return failed("waitFailed", err(503), this.t);
    if (fault === "unauthorized") return failed("waitFailed", err(401), this.t);
    const op = this.operations.get(name);
    if (op === undefined || this.t >= op.goneAt) return failed("waitFailed", err(404), this.t);
    const started = this.t;
    if (fault !== "early") this.t = Math.max(this.t, Math.min(op.image.readyAt, this.t + WAIT_CAP));
    return {
      type: "observed",
      operation: this.opJson(op),
      elapsedMs: this.t - started,
      now: this.t,
    };
  }

  getImage(): LifecycleEvent {
    const fault = this.fault();
    if (fault === "before503" || fault === "afterReset")
      return failed("imageCheckFailed", err(503), this.t);
    const image = this.images.get("web");
    if (image === undefined) return { type: "imageMissing", now: this.t };
    const status = this.t < image.readyAt ? "PENDING" : image.fails ? "FAILED" : "READY";
    return {
      type: "imageFound",
      image: { id: image.id, status, labels: image.labels },
      now: this.t,
    };
  }
}

function err(httpStatus: number): CallFailure {
  const reason =
    {
      0: "networkError",
      401: "authError",
      403: "forbidden",
      404: "notFound",
      409: "alreadyExists",
      429: "rateLimitExceeded",
      503: "backendError",
    }[httpStatus] ?? "x";
  const kind =
    httpStatus === 0 || httpStatus === 429 || httpStatus >= 500
      ? "retryable"
      : httpStatus === 401
        ? "refresh-credentials"
        : "final";
  return { httpStatus, reason, message: reason, kind };
}
function failed(
  type: "insertFailed" | "waitFailed" | "imageCheckFailed",
  error: CallFailure,
  now: number,
): LifecycleEvent {
  return { type, error, now };
}

const RANK = { accepted: 0, dispatched: 1, following: 2, done: 3 } as const;
const policy = lifecyclePolicy({
  insertWindowMs: 30 * 60_000,
  retryDelay: (n) => Math.min(30_000, 500 * 2 ** n),
  minWaitIntervalMs: 1000,
  imagePollMs: 60_000,
});

/** Runs one history and returns what the checker needs. */
function run(s: Scenario) {
  const compute = new ModelCompute(s);
  let subject: Subject = {
    lifecycle: ACCEPTED,
    operation: create(OperationSchema, {
      name: "operation-ours",
      project: "p-1",
      status: Operation_Status.PENDING,
      clientOperationId: RID,
      targetLink: "https://c/compute/v1/projects/p-1/global/images/web",
    }),
    requestId: RID,
    imageName: "web",
  };
  const violations: string[] = [];
  let insertsAfterFollowing = 0;
  let event: LifecycleEvent = { type: "run", now: compute.t };
  const apply = (e: LifecycleEvent): Effect => {
    const before = subject;
    const d = decide(before, e, policy);
    if (RANK[d.lifecycle.phase] < RANK[before.lifecycle.phase])
      violations.push(`phase went back: ${before.lifecycle.phase} → ${d.lifecycle.phase}`);
    if (d.operation !== undefined) {
      if (d.operation.status < before.operation.status) violations.push("status went back");
      if (d.operation.progress < before.operation.progress) violations.push("progress went back");
      if (before.operation.status === Operation_Status.DONE)
        violations.push("a version after DONE");
    }
    if (d.effect.kind === "insert" && RANK[before.lifecycle.phase] >= RANK.following)
      insertsAfterFollowing += 1;
    subject = { ...subject, lifecycle: d.lifecycle, operation: d.operation ?? subject.operation };
    if (
      (subject.operation.status === Operation_Status.DONE) !==
      (subject.lifecycle.phase === "done")
    )
      violations.push(`status ${subject.operation.status} in phase ${subject.lifecycle.phase}`);
    return d.effect;
  };
  let effect: Effect = { kind: "none" };
  for (let stepNo = 0; stepNo < 5000; stepNo++) {
    for (const i of s.interrupts.filter((x) => x.at === stepNo)) {
      if (i.kind === "cancel") {
        const phase: Lifecycle["phase"] = subject.lifecycle.phase;
        const d = decide(subject, { type: "cancel", by: "alice", now: compute.t }, policy);
        if ((d.refused === undefined) !== (phase === "accepted"))
          violations.push(
            `cancel in ${phase} ${d.refused === undefined ? "succeeded" : "was refused"}`,
          );
        apply({ type: "cancel", by: "alice", now: compute.t });
        if (subject.lifecycle.phase === "done") break;
      } else {
        event = { type: "run", now: compute.t };
      }
    }
    if (subject.lifecycle.phase === "done") break;
    effect = apply(event);
    if (effect.kind === "none") break;
    compute.t += effect.delayMs;
    event =
      effect.kind === "insert"
        ? compute.insert(RID)
        : effect.kind === "wait"
          ? compute.wait(
              subject.lifecycle.phase === "following" ? subject.lifecycle.computeOperation : "",
            )
          : compute.getImage();
  }
  return { subject, compute, violations, insertsAfterFollowing };
}

const fault = fc.constantFrom<Fault>(
  "ok",
  "ok",
  "before503",
  "before429",
  "after503",
  "afterReset",
  "final403",
  "early",
  "unauthorized",
);
const scenario: fc.Arbitrary<Scenario> = fc.record({
  durationMs: fc.integer({ min: 0, max: 3 * 3600_000 }),
  ttlMs: fc.integer({ min: 1000, max: 2 * 3600_000 }),
  retentionMs: fc.integer({ min: 0, max: 24 * 3600_000 }),
  asyncFailure: fc.boolean(),
  foreignImage: fc.boolean().map((b) => b && Math.random() < 0.3),
  faults: fc.array(fault, { maxLength: 60 }),
  interrupts: fc.array(
    fc.record({
      at: fc.integer({ min: 0, max: 80 }),
      kind: fc.constantFrom("cancel" as const, "rerun" as const),
    }),
    { maxLength: 4 },
  ),
});

describe("the lifecycle against a model of Compute", () => {
  it("keeps every rule over random histories of faults, expiries, re-runs and cancels", () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(scenario, (s) => {
        const { subject, compute, violations, insertsAfterFollowing } = run(s);
        const { lifecycle, operation } = subject;
        // Nothing stays open: with finite faults every history ends.
        expect(lifecycle.phase, JSON.stringify(s)).toBe("done");
        if (lifecycle.phase !== "done") return;
        outcomes.set(lifecycle.outcome, (outcomes.get(lifecycle.outcome) ?? 0) + 1);
        expect(violations).toEqual([]);
        expect(insertsAfterFollowing).toBe(0);
        const image = compute.images.get("web");
        const oursExists = image !== undefined && image.labels[OWNERSHIP_LABEL] === RID;
        switch (lifecycle.outcome) {
          case "succeeded":
            // DONE without error ⇔ exactly one image of ours exists, and it is READY.
            expect(operation.error).toBeUndefined();
            expect(oursExists && !image.fails).toBe(true);
            expect(operation.targetId).toBe(image?.id);
            break;
          case "cancelled":
            expect(compute.insertsSent).toBe(0);
            expect(oursExists).toBe(false);
            break;
          case "rejected":
            expect(operation.error).toBeDefined();
            expect(oursExists).toBe(false);
            break;
          case "failed":
            // Compute's own operation failed, or our image is gone.
            expect(operation.error).toBeDefined();
            expect(!oursExists || image.fails).toBe(true);
            break;
        }
      }),
      { numRuns: 3000 },
    );
    // The generator reaches every outcome, so none of the branches above is vacuous.
    expect([...outcomes.keys()].sort()).toEqual(["cancelled", "failed", "rejected", "succeeded"]);
  });
});
