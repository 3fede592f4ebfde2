// Model-checks the lifecycle: `decide` drives a small in-memory Compute (images, requestIds that
// expire, operations that Compute forgets after a while) through random faults, re-runs and
// cancels, and every history must keep the rules of docs/design.md. The adversary also delays
// what Compute does past its answer: an insert that lands after its call timed out, reads that
// answer 404 for a while after a write, and a worker that lost its lock whose insert lands late
// and whose answer arrives after the re-run moved on.
import { create } from "@bufbuild/protobuf";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decide, type Effect, type Subject } from "./decide";
import type { CallFailure, LifecycleEvent } from "./events";
import { ACCEPTED, type Lifecycle } from "./lifecycle";
import { OWNERSHIP_LABEL } from "./ownership";
import { testPolicy } from "./policy.test-helper";

const RID = "5b1c7a7e-0f7e-4a8e-9a65-3f1f7d6f0c11";
const WAIT_CAP = 120_000;
const MINUTE = 60_000;

type Fault =
  | "ok"
  | "before503"
  | "before429"
  | "after503"
  | "afterReset"
  | "final403"
  | "early"
  | "unauthorized"
  /** An insert: no answer (timeout); it lands at Compute `lagMs` later. */
  | "late";

/** A failure that never stops once the scripted faults are used up. */
type Forever = "none" | "get503" | "get403" | "wait503" | "insertLate";

interface Scenario {
  readonly durationMs: number;
  readonly ttlMs: number;
  readonly retentionMs: number;
  readonly asyncFailure: boolean;
  readonly foreignImage: boolean;
  /** When someone deletes the foreign image, in ms after the history starts (never: undefined). */
  readonly foreignGoneAfterMs: number | undefined;
  /** How long after it was sent a late insert lands (the settle period must cover it). */
  readonly lagMs: number;
  /** For how long after a write reads of it answer 404. */
  readonly visibilityMs: number;
  /** One fault per Compute call, in order; once used up, calls succeed (or fail `forever`). */
  readonly faults: readonly Fault[];
  readonly forever: Forever;
  /**
   * Step number → a cancel; a re-run (the worker died and the job runs again); or a zombie: the
   * worker lost its lock, the job runs again, and the insert it had in flight lands late and its
   * answer reaches `decide` `delaySteps` later, on whatever state is there then.
   */
  readonly interrupts: readonly {
    readonly at: number;
    readonly kind: "cancel" | "rerun" | "zombie";
    readonly delaySteps: number;
  }[];
}

interface ModelImage {
  readonly id: string;
  readonly labels: Record<string, string>;
  readonly createdAt: number;
  readonly readyAt: number;
  readonly fails: boolean;
}
interface ModelOperation {
  readonly name: string;
  readonly image: ModelImage;
  readonly goneAt: number;
}
type Landing = { readonly op: ModelOperation } | { readonly conflict: true };

/** A Compute that keeps its own rules: one image per name, requestIds remembered for a while. */
class ModelCompute {
  t = 1_800_000_000_000;
  private readonly start = this.t;
  readonly images = new Map<string, ModelImage>();
  private readonly requestIds = new Map<string, { op: ModelOperation; expiresAt: number }>();
  private readonly operations = new Map<string, ModelOperation>();
  /** Inserts sent that have not landed yet, in landing order. */
  private pending: { at: number; done?: (l: Landing) => void }[] = [];
  private next = 1;
  private faultIndex = 0;
  insertsSent = 0;

  constructor(private readonly s: Scenario) {
    if (s.foreignImage)
      this.images.set("web", {
        id: "9",
        labels: { [OWNERSHIP_LABEL]: "other" },
        createdAt: 0,
        readyAt: 0,
        fails: false,
      });
  }

  private fault(kind: "insert" | "wait" | "get"): Fault | "forever" {
    const scripted = this.s.faults[this.faultIndex++];
    if (scripted !== undefined) return scripted;
    const forever = { insert: "insertLate", wait: "wait503", get: "get503" } as const;
    if (this.s.forever === forever[kind]) return "forever";
    if (this.s.forever === "get403" && kind === "get") return "forever";
    return "ok";
  }

  /** Applies every insert that has landed by now. */
  private settle(): void {
    const due = this.pending.filter((p) => p.at <= this.t).sort((a, b) => a.at - b.at);
    this.pending = this.pending.filter((p) => p.at > this.t);
    for (const p of due) {
      this.deleteForeign(p.at);
      const landing = this.land(RID, p.at);
      p.done?.(landing);
    }
    this.deleteForeign(this.t);
  }

  /** Someone deletes their image of the name, if the scenario says so and its time has come. */
  private deleteForeign(at: number): void {
    const goneAt =
      this.s.foreignGoneAfterMs === undefined ? Infinity : this.start + this.s.foreignGoneAfterMs;
    if (at >= goneAt && this.images.get("web")?.labels[OWNERSHIP_LABEL] === "other")
      this.images.delete("web");
  }

  /** Everything in flight lands: the world as it will be. */
  flush(): void {
    this.t = Math.max(this.t, ...this.pending.map((p) => p.at));
    this.settle();
  }

  private land(requestId: string, at: number): Landing {
    const seen = this.requestIds.get(requestId);
    if (seen !== undefined && seen.expiresAt > at) return { op: seen.op };
    if (this.images.has("web")) return { conflict: true };
    const image: ModelImage = {
      id: String(100 + this.next),
      labels: { [OWNERSHIP_LABEL]: requestId },
      createdAt: at,
      readyAt: at + this.s.durationMs,
      fails: this.s.asyncFailure,
    };
    const op = {
      name: `operation-${this.next++}`,
      image,
      goneAt: image.readyAt + this.s.retentionMs,
    };
    this.images.set("web", image);
    this.operations.set(op.name, op);
    this.requestIds.set(requestId, { op, expiresAt: at + this.s.ttlMs });
    return { op };
  }

  private visible(image: ModelImage): boolean {
    return this.t >= image.createdAt + this.s.visibilityMs;
  }

  opJson(op: ModelOperation): Operation {
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

  private answer(landing: Landing): LifecycleEvent {
    return "op" in landing
      ? { type: "inserted", operation: this.opJson(landing.op), now: this.t }
      : failed("insertFailed", err(409), this.t);
  }

  insert(): LifecycleEvent {
    this.settle();
    this.insertsSent += 1;
    const fault = this.fault("insert");
    if (fault === "before503") return failed("insertFailed", err(503), this.t);
    if (fault === "before429") return failed("insertFailed", err(429), this.t);
    if (fault === "final403") return failed("insertFailed", err(403), this.t);
    if (fault === "late" || fault === "forever") {
      this.pending.push({ at: this.t + this.s.lagMs });
      return failed("insertFailed", err(0), this.t);
    }
    const answer = this.answer(this.land(RID, this.t));
    if (fault === "after503") return failed("insertFailed", err(503), this.t);
    if (fault === "afterReset") return failed("insertFailed", err(0), this.t);
    return answer;
  }

  /**
   * An insert sent by a worker that then lost its lock: it lands late, and its answer (or its
   * timeout, if it has not landed by then) comes back whenever the zombie gets it.
   */
  zombieInsert(): () => LifecycleEvent {
    this.insertsSent += 1;
    let landed: Landing | undefined;
    this.pending.push({ at: this.t + this.s.lagMs, done: (l) => (landed = l) });
    return () => {
      this.settle();
      return landed === undefined ? failed("insertFailed", err(0), this.t) : this.answer(landed);
    };
  }

  wait(name: string): LifecycleEvent {
    this.settle();
    const fault = this.fault("wait");
    if (fault === "before503" || fault === "after503" || fault === "forever")
      return failed("waitFailed", err(503), this.t);
    if (fault === "unauthorized") return failed("waitFailed", err(401), this.t);
    const op = this.operations.get(name);
    if (op === undefined || this.t >= op.goneAt || !this.visible(op.image))
      return failed("waitFailed", err(404), this.t);
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
    this.settle();
    const fault = this.fault("get");
    if (fault === "forever")
      return failed("imageCheckFailed", err(this.s.forever === "get403" ? 403 : 503), this.t);
    if (fault === "before503" || fault === "afterReset")
      return failed("imageCheckFailed", err(503), this.t);
    const image = this.images.get("web");
    if (image === undefined || !this.visible(image)) return { type: "imageMissing", now: this.t };
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
      0: "timeout",
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
const isFailure = (e: LifecycleEvent) =>
  e.type === "insertFailed" ||
  e.type === "waitFailed" ||
  e.type === "imageCheckFailed" ||
  e.type === "imageMissing";

const RANK = { accepted: 0, dispatched: 1, following: 2, done: 3 } as const;
const CAP = 30_000;
const retryDelay = (n: number) => Math.min(CAP, 500 * 2 ** n);
/** The settle period covers the longest landing lag plus the longest visibility lag. */
const policy = testPolicy({
  insertWindowMs: 30 * MINUTE,
  requestIdMemoryMs: 60 * MINUTE,
  settleMs: 5 * MINUTE,
  notFoundGraceMs: MINUTE,
  retryDelay,
  minWaitIntervalMs: 1000,
  imagePollMs: MINUTE,
});
const STEPS = 3000;

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
  /** Failed calls in a row, and the pause before each call made during such a run. */
  let streak = 0;
  const late: { at: number; answer: () => LifecycleEvent }[] = [];
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
    if (subject.lifecycle.phase !== "done" && subject.operation.status === Operation_Status.PENDING)
      if (subject.lifecycle.phase === "following") violations.push("following while PENDING");
    return d.effect;
  };
  /** A function, so that TypeScript does not narrow `subject` across the closures above. */
  const done = () => subject.lifecycle.phase === "done";
  let effect: Effect = { kind: "none" };
  for (let stepNo = 0; stepNo < STEPS; stepNo++) {
    for (const z of late.filter((x) => x.at === stepNo)) {
      const answer = z.answer();
      if (!isFailure(answer)) streak = -1;
      apply(answer);
    }
    if (subject.lifecycle.phase === "done") break;
    for (const i of s.interrupts.filter((x) => x.at === stepNo)) {
      if (i.kind === "cancel") {
        const phase: Lifecycle["phase"] = subject.lifecycle.phase;
        const d = decide(subject, { type: "cancel", by: "alice", now: compute.t }, policy);
        if ((d.refused === undefined) !== (phase === "accepted"))
          violations.push(
            `cancel in ${phase} ${d.refused === undefined ? "succeeded" : "was refused"}`,
          );
        apply({ type: "cancel", by: "alice", now: compute.t });
        if (done()) break;
      } else {
        if (i.kind === "zombie" && effect.kind === "insert")
          late.push({ at: stepNo + i.delaySteps, answer: compute.zombieInsert() });
        event = { type: "run", now: compute.t };
      }
    }
    if (done()) break;
    // A late success from a zombie ends the run of failures too. A re-run neither fails nor
    // succeeds: it must go on at the pace the failures set, not start again from nothing.
    if (event.type !== "run") streak = isFailure(event) && streak >= 0 ? streak + 1 : 0;
    else if (streak < 0) streak = 0;
    effect = apply(event);
    if (effect.kind === "none") break;
    // While calls fail, each pause grows to the cap: never two calls in a row at once, never
    // faster than the cap once the failures have run long.
    if (streak >= 3 && effect.delayMs < retryDelay(0))
      violations.push(`no backoff after ${streak} failures (${effect.kind})`);
    if (streak >= 14 && effect.delayMs < CAP)
      violations.push(`below the cap after ${streak} failures: ${effect.delayMs} ms`);
    compute.t += effect.delayMs;
    event =
      effect.kind === "insert"
        ? compute.insert()
        : effect.kind === "wait"
          ? compute.wait(
              subject.lifecycle.phase === "following" ? subject.lifecycle.computeOperation : "",
            )
          : compute.getImage();
  }
  // What will be: every insert in flight lands.
  compute.flush();
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
  "late",
  "late",
);
const scenario: fc.Arbitrary<Scenario> = fc.record({
  durationMs: fc.integer({ min: 0, max: 3 * 3600_000 }),
  ttlMs: fc.integer({ min: 1000, max: 2 * 3600_000 }),
  retentionMs: fc.integer({ min: 0, max: 24 * 3600_000 }),
  asyncFailure: fc.boolean(),
  foreignImage: fc.boolean().map((b) => b && Math.random() < 0.3),
  foreignGoneAfterMs: fc.option(fc.integer({ min: 0, max: 10 * MINUTE }), { nil: undefined }),
  lagMs: fc.integer({ min: 0, max: 3 * MINUTE }),
  visibilityMs: fc.integer({ min: 0, max: MINUTE }),
  faults: fc.array(fault, { maxLength: 60 }),
  forever: fc.constantFrom<Forever>(
    "none",
    "none",
    "none",
    "get503",
    "get403",
    "wait503",
    "insertLate",
  ),
  interrupts: fc.array(
    fc.record({
      at: fc.integer({ min: 0, max: 80 }),
      kind: fc.constantFrom("cancel" as const, "rerun" as const, "zombie" as const),
      delaySteps: fc.integer({ min: 0, max: 30 }),
    }),
    { maxLength: 4 },
  ),
});

describe("the lifecycle against a model of Compute that may act late and answer 404 for a while", () => {
  it("keeps every rule over random histories of faults, late inserts, stale reads, expiries, zombies, re-runs and cancels", () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(scenario, (s) => {
        const { subject, compute, violations, insertsAfterFollowing } = run(s);
        const { lifecycle, operation } = subject;
        expect(violations, JSON.stringify(s)).toEqual([]);
        expect(insertsAfterFollowing).toBe(0);
        const image = compute.images.get("web");
        const oursExists = image !== undefined && image.labels[OWNERSHIP_LABEL] === RID;
        if (lifecycle.phase !== "done") {
          // Only a failure that never stops keeps a history open, and then it says why.
          outcomes.set("open", (outcomes.get("open") ?? 0) + 1);
          expect(s.forever, JSON.stringify(s)).not.toBe("none");
          expect(operation.statusMessage).not.toBe("");
          return;
        }
        outcomes.set(lifecycle.outcome, (outcomes.get(lifecycle.outcome) ?? 0) + 1);
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
            // DONE with an error ⇒ no image of ours exists, and none appeared after.
            expect(operation.error).toBeDefined();
            expect(oursExists, JSON.stringify(s)).toBe(false);
            break;
          case "failed":
            // Compute's own operation failed, or our image is gone.
            expect(operation.error).toBeDefined();
            expect(!oursExists || image.fails, JSON.stringify(s)).toBe(true);
            break;
        }
      }),
      { numRuns: 3000 },
    );
    // The generator reaches every outcome, so none of the branches above is vacuous.
    expect([...outcomes.keys()].sort()).toEqual([
      "cancelled",
      "failed",
      "open",
      "rejected",
      "succeeded",
    ]);
    // 3,000 histories of up to STEPS calls each: seconds on a loaded 2-core machine, not a
    // measure of anything, so it gets room rather than vitest's 5 s default.
  }, 60_000);
});
