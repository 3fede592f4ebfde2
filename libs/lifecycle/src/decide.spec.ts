import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { decide, type Subject } from "./decide";
import type { CallFailure, LifecycleEvent } from "./events";
import type { Lifecycle } from "./lifecycle";
import { testPolicy } from "./policy.test-helper";

const T0 = 1_800_000_000_000;
const RID = "7d444840-9dc0-11d1-b245-5ffdce74fad2";
/** Window 60 s, requestId memory 120 s, settle 30 s, not-found grace 10 s; backoff 100 ms doubling. */
const policy = testPolicy({
  insertWindowMs: 60_000,
  requestIdMemoryMs: 120_000,
  settleMs: 30_000,
  notFoundGraceMs: 10_000,
  retryDelay: (n) => 100 * 2 ** n,
  minWaitIntervalMs: 1000,
  imagePollMs: 5000,
});

function ours(status: Operation_Status = Operation_Status.PENDING): Operation {
  return create(OperationSchema, {
    name: "operation-1",
    project: "p-1",
    status,
    clientOperationId: RID,
    targetLink: "https://compute.googleapis.com/compute/v1/projects/p-1/global/images/web",
  });
}
function compute(fields: MessageInitShape<typeof OperationSchema> = {}): Operation {
  return create(OperationSchema, {
    name: "operation-c1",
    status: Operation_Status.RUNNING,
    progress: 30,
    targetId: "111",
    selfLink:
      "https://compute.googleapis.com/compute/v1/projects/p-1/global/operations/operation-c1",
    ...fields,
  });
}
function subject(lifecycle: Lifecycle, operation = ours()): Subject {
  return { lifecycle, operation, requestId: RID, imageName: "web" };
}
function failure(
  httpStatus: number,
  reason: string,
  extra: Partial<CallFailure> = {},
): CallFailure {
  const kind =
    httpStatus === 0 || [429, 500, 502, 503, 504].includes(httpStatus)
      ? "retryable"
      : httpStatus === 401
        ? "refresh-credentials"
        : "final";
  return { httpStatus, reason, message: `${httpStatus} ${reason}`, kind, ...extra };
}
const dispatched = (
  extra: Partial<Extract<Lifecycle, { phase: "dispatched" }>> = {},
): Lifecycle => ({
  phase: "dispatched",
  attempts: 1,
  firstMs: T0,
  ambiguous: false,
  ...extra,
});
const following = (extra: Partial<Extract<Lifecycle, { phase: "following" }>> = {}): Lifecycle => ({
  phase: "following",
  computeOperation: "operation-c1",
  targetId: "111",
  by: "operation",
  failures: 0,
  ...extra,
});
const on = (s: Subject, e: LifecycleEvent) => decide(s, e, policy);
/** What a dispatched insert (its lifecycle with `extra`) decides when the insert fails at `now`. */
const insertFailed = (
  error: CallFailure,
  now: number,
  extra: Partial<Extract<Lifecycle, { phase: "dispatched" }>> = {},
) => on(subject(dispatched(extra)), { type: "insertFailed", error, now });
/** What following decides at T0 on Compute's `operation`, from a wait that took `elapsedMs`. */
const observed = (operation: Operation, elapsedMs: number) =>
  on(subject(following()), { type: "observed", operation, elapsedMs, now: T0 });

describe("decide: accepted", () => {
  it("dispatches the first insert when a worker runs the job", () => {
    const d = on(subject({ phase: "accepted" }), { type: "run", now: T0 });
    expect(d.lifecycle).toEqual({
      phase: "dispatched",
      attempts: 1,
      firstMs: T0,
      ambiguous: false,
      failures: 0,
    });
    expect(d.effect).toEqual({ kind: "insert", delayMs: 0 });
    expect(d.operation).toBeUndefined();
  });

  it("cancels: DONE with CANCELLED, and no insert will ever be sent", () => {
    const d = on(subject({ phase: "accepted" }), { type: "cancel", by: "alice", now: T0 });
    expect(d.lifecycle).toEqual({ phase: "done", outcome: "cancelled" });
    expect(d.effect).toEqual({ kind: "none" });
    expect(d.operation?.status).toBe(Operation_Status.DONE);
    expect(d.operation?.error?.errors[0]).toMatchObject({ code: "CANCELLED" });
    expect(d.operation?.error?.errors[0]?.message).toMatch(/alice; no insert was sent/);
  });
});

describe("decide: dispatched", () => {
  it("refuses a cancel once an insert was dispatched, saying why", () => {
    const d = on(subject(dispatched()), { type: "cancel", by: "alice", now: T0 });
    expect(d.refused).toMatch(/an insert was sent to Compute .* cannot cancel an image insert/);
    expect(d.lifecycle).toEqual(dispatched());
    expect(d.operation).toBeUndefined();
  });

  it("follows the operation Compute accepted", () => {
    const d = on(subject(dispatched()), { type: "inserted", operation: compute(), now: T0 });
    expect(d.lifecycle).toEqual(following());
    expect(d.operation).toMatchObject({
      status: Operation_Status.RUNNING,
      progress: 30,
      targetId: "111",
      computeOperation: compute().selfLink,
    });
    expect(d.effect).toEqual({ kind: "wait", delayMs: 0 });
  });

  it("ends at once when the insert answers DONE", () => {
    const done = compute({ status: Operation_Status.DONE, progress: 100 });
    const d = on(subject(dispatched()), { type: "inserted", operation: done, now: T0 });
    expect(d.lifecycle).toEqual({ phase: "done", outcome: "succeeded" });
    expect(d.effect.kind).toBe("none");
  });

  it("retries a 503 within the window, marks it ambiguous, and says so in status_message", () => {
    const d = insertFailed(failure(503, "backendError"), T0 + 1000);
    expect(d.lifecycle).toMatchObject({
      phase: "dispatched",
      attempts: 2,
      ambiguous: true,
      failures: 1,
      lastUncertainMs: T0 + 1000,
    });
    expect(d.effect).toEqual({ kind: "insert", delayMs: 100 });
    expect(d.operation?.statusMessage).toMatch(
      /insert attempt 1 got no definite answer \(HTTP 503 backendError\); retrying in 0 s with the same request id/,
    );
    expect(d.operation?.status).toBe(Operation_Status.PENDING);
  });

  it("honours Retry-After on a 429, which is definite: nothing was created", () => {
    const d = insertFailed(failure(429, "rateLimitExceeded", { retryAfterMs: 7000 }), T0 + 1000);
    expect(d.lifecycle).toMatchObject({ attempts: 2, ambiguous: false });
    expect(d.effect).toEqual({ kind: "insert", delayMs: 7000 });
  });

  it("rejects on a final error when no earlier attempt could have taken effect", () => {
    const d = insertFailed(failure(400, "invalid"), T0);
    expect(d.lifecycle).toEqual({ phase: "done", outcome: "rejected" });
    expect(d.operation).toMatchObject({ httpErrorStatusCode: 400 });
    expect(d.operation?.error?.errors[0]?.code).toBe("INVALID_FIELD_VALUE");
  });

  it("looks at the image at once on a 409, whoever holds the name", () => {
    const d = insertFailed(failure(409, "alreadyExists"), T0 + 120_000);
    expect(d.effect).toEqual({ kind: "getImage", delayMs: 0 });
    expect(d.lifecycle).toMatchObject({ phase: "dispatched", lastError: { httpStatus: 409 } });
  });

  it("looks at the image, backing off, on a final error after an ambiguous attempt: sending it again would only be refused", () => {
    const d = insertFailed(failure(403, "forbidden"), T0 + 5000, {
      ambiguous: true,
      lastUncertainMs: T0,
      failures: 2,
    });
    expect(d.effect).toEqual({ kind: "getImage", delayMs: 400 });
    expect(d.lifecycle).toMatchObject({ failures: 3, lastError: { httpStatus: 403 } });
    expect(d.operation?.status).toBe(Operation_Status.PENDING);
    expect(d.operation?.statusMessage).toMatch(
      /insert attempt 1 failed \(HTTP 403 forbidden\); an earlier attempt got no answer and may still take effect/,
    );
  });

  it("proves an unanswered insert past the window by inserting again with the same request id while Compute remembers it", () => {
    const d = insertFailed(failure(0, "timeout"), T0 + 61_000, { attempts: 4 });
    expect(d.effect).toEqual({ kind: "insert", delayMs: 100 });
    expect(d.lifecycle).toMatchObject({
      attempts: 5,
      ambiguous: true,
      lastUncertainMs: T0 + 61_000,
    });
    expect(d.operation?.statusMessage).toMatch(
      /^insert attempt 4 got no definite answer \(timeout\); the retry window is over, so asking Compute again .* with the same request id: it answers with the original operation if an earlier attempt took effect$/,
    );
  });

  it("past the requestId memory, settles an unanswered insert only by the image", () => {
    const d = insertFailed(failure(503, "backendError"), T0 + 121_000, { attempts: 4 });
    expect(d.effect).toEqual({ kind: "getImage", delayMs: 100 });
    expect(d.operation?.statusMessage).toMatch(
      /the image's absence proves nothing before .* \(30 s after it\); checking the image again in 0 s$/,
    );
  });

  it("gives up past the window when every answer was definite, saying how long it tried", () => {
    const d = insertFailed(failure(429, "rateLimitExceeded"), T0 + 90_000, { attempts: 7 });
    expect(d.lifecycle).toEqual({ phase: "done", outcome: "rejected" });
    expect(d.operation?.error?.errors[0]?.message).toMatch(
      /^gave up after 7 attempts over 90 s; last error: 429 rateLimitExceeded/,
    );
  });

  it("takes an image with our label as ours and follows it, whatever the 409 said", () => {
    const state = dispatched({
      lastError: { code: "RESOURCE_ALREADY_EXISTS", message: "x", httpStatus: 409, final: true },
    });
    const image = { id: "222", status: "PENDING", labels: { "imagesvc-request-id": RID } };
    const d = on(subject(state), { type: "imageFound", image, now: T0 });
    expect(d.lifecycle).toEqual({
      phase: "following",
      computeOperation: "",
      targetId: "222",
      by: "image",
      failures: 0,
    });
    expect(d.effect).toEqual({ kind: "getImage", delayMs: 5000 });
    expect(d.operation).toMatchObject({ status: Operation_Status.RUNNING, targetId: "222" });
    const ready = on(subject(state), {
      type: "imageFound",
      image: { ...image, status: "READY" },
      now: T0,
    });
    expect(ready.lifecycle).toEqual({ phase: "done", outcome: "succeeded" });
    expect(ready.operation).toMatchObject({
      status: Operation_Status.DONE,
      progress: 100,
      targetId: "222",
    });
    expect(ready.operation?.error).toBeUndefined();
  });

  it("reports RESOURCE_ALREADY_EXISTS when the image of that name is someone else's", () => {
    const image = { id: "333", status: "READY", labels: { "imagesvc-request-id": "another" } };
    const d = on(subject(dispatched()), { type: "imageFound", image, now: T0 });
    expect(d.lifecycle).toEqual({ phase: "done", outcome: "rejected" });
    expect(d.operation).toMatchObject({ httpErrorStatusCode: 409 });
    expect(d.operation?.error?.errors[0]?.code).toBe("RESOURCE_ALREADY_EXISTS");
  });

  it("inserts again when no image exists and the window is open", () => {
    const last = { code: "UNAVAILABLE", message: "no answer", httpStatus: 503, final: false };
    const state = dispatched({
      ambiguous: true,
      lastError: last,
      lastUncertainMs: T0,
      failures: 1,
    });
    const open = on(subject(state), { type: "imageMissing", now: T0 + 1000 });
    expect(open.effect).toEqual({ kind: "insert", delayMs: 200 });
    expect(open.lifecycle).not.toHaveProperty("missingSinceMs");
  });

  it("never rejects on a 404 while an unanswered insert may still take effect: not before the settle period, nor on one read", () => {
    const last = { code: "DEADLINE_EXCEEDED", message: "no answer", httpStatus: 503, final: false };
    const uncertain = T0 + 125_000;
    const state = dispatched({ ambiguous: true, lastError: last, lastUncertainMs: uncertain });
    // Inside the settle period: look again, whatever the 404s say.
    const early = on(subject(state), { type: "imageMissing", now: uncertain + 29_000 });
    expect(early.effect.kind).toBe("getImage");
    expect(early.lifecycle).toMatchObject({
      phase: "dispatched",
      missingSinceMs: uncertain + 29_000,
    });
    // Past it, one 404 is still one read.
    const once = on(subject(state), { type: "imageMissing", now: uncertain + 31_000 });
    expect(once.effect.kind).toBe("getImage");
    // 404s lasting the grace, past the settle period: now it is known.
    const settled = on(
      subject(
        dispatched({
          ambiguous: true,
          lastError: last,
          lastUncertainMs: uncertain,
          missingSinceMs: uncertain + 31_000,
          attempts: 6,
        }),
      ),
      { type: "imageMissing", now: uncertain + 41_000 },
    );
    expect(settled.lifecycle).toEqual({ phase: "done", outcome: "rejected" });
    expect(settled.operation?.error?.errors[0]?.message).toMatch(
      /^gave up after 6 attempts over 3 m; last error: no answer; Compute showed no image of this request 41 s after the last attempt without an answer$/,
    );
  });

  it("rejects at once when every attempt was answered and the window is closed", () => {
    const last = {
      code: "RATE_LIMIT_EXCEEDED",
      message: "slow down",
      httpStatus: 429,
      final: false,
    };
    const d = on(subject(dispatched({ lastError: last })), {
      type: "imageMissing",
      now: T0 + 61_000,
    });
    expect(d.lifecycle).toEqual({ phase: "done", outcome: "rejected" });
  });

  it("rejects a re-run past the window and the memory only once 404s settle it, saying why", () => {
    const state = dispatched({
      attempts: 3,
      ambiguous: true,
      lastUncertainMs: T0 + 130_000,
      missingSinceMs: T0 + 150_000,
    });
    const d = on(subject(state), { type: "imageMissing", now: T0 + 161_000 });
    expect(d.lifecycle).toEqual({ phase: "done", outcome: "rejected" });
    expect(d.operation).toMatchObject({ httpErrorStatusCode: 504 });
    expect(d.operation?.error?.errors[0]?.code).toBe("DEADLINE_EXCEEDED");
    expect(d.operation?.error?.errors[0]?.message).toMatch(
      /^no insert was accepted within 60 s: 3 dispatched, none answered .*; Compute showed no image of this request 31 s after/,
    );
  });

  it("re-runs insert again with the same request id inside the window and the memory, and look at the image after them", () => {
    expect(on(subject(dispatched()), { type: "run", now: T0 + 1000 })).toMatchObject({
      lifecycle: { attempts: 2, ambiguous: true, lastUncertainMs: T0 + 1000 },
      effect: { kind: "insert", delayMs: 0 },
    });
    expect(on(subject(dispatched()), { type: "run", now: T0 + 61_000 })).toMatchObject({
      lifecycle: { attempts: 2, ambiguous: true },
      effect: { kind: "insert", delayMs: 0 },
    });
    const late = on(subject(dispatched()), { type: "run", now: T0 + 121_000 });
    expect(late).toMatchObject({
      lifecycle: { attempts: 1, ambiguous: true, lastUncertainMs: T0 + 121_000 },
      effect: { kind: "getImage", delayMs: 0 },
    });
    expect(late.operation).toBeUndefined();
  });

  it("backs off a failing image check, counting its failures, up to the cap", () => {
    let s = subject(dispatched({ ambiguous: true, lastUncertainMs: T0 }));
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) {
      const d = on(s, {
        type: "imageCheckFailed",
        error: failure(403, "rateLimitExceeded", { kind: "retryable" }),
        now: T0 + i,
      });
      delays.push(d.effect.kind === "none" ? -1 : d.effect.delayMs);
      s = { ...s, lifecycle: d.lifecycle, operation: d.operation ?? s.operation };
    }
    expect(delays.slice(0, 4)).toEqual([100, 200, 400, 800]);
    expect(s.lifecycle).toMatchObject({ phase: "dispatched", failures: 12 });
    expect(s.operation.statusMessage).toMatch(/whether an insert took effect is not known yet/);
  });
});

describe("decide: following", () => {
  it("resumes by reference on a re-run: it waits on the recorded operation and never inserts", () => {
    expect(on(subject(following()), { type: "run", now: T0 }).effect).toEqual({
      kind: "wait",
      delayMs: 0,
    });
    expect(on(subject(following({ by: "image" })), { type: "run", now: T0 }).effect).toEqual({
      kind: "getImage",
      delayMs: 0,
    });
  });

  it("refuses a cancel: Compute cannot cancel an accepted insert", () => {
    expect(on(subject(following()), { type: "cancel", by: "a", now: T0 }).refused).toMatch(
      /Compute accepted the insert \(operation operation-c1\)/,
    );
  });

  it("keeps a minimum interval after a wait that returned at once without change", () => {
    const d = observed(compute(), 30);
    expect(d.effect).toEqual({ kind: "wait", delayMs: 970 });
    const slow = observed(compute(), 110_000);
    expect(slow.effect).toEqual({ kind: "wait", delayMs: 0 });
  });

  it("ends with Compute's verdict: DONE without error succeeds, with error fails", () => {
    const ok = observed(compute({ status: Operation_Status.DONE, progress: 100 }), 5);
    expect(ok.lifecycle).toEqual({ phase: "done", outcome: "succeeded" });
    const bad = compute({
      status: Operation_Status.DONE,
      progress: 100,
      httpErrorStatusCode: 400,
      error: { errors: [{ code: "INVALID_IMAGE_TAR", message: "bad tar" }] },
    });
    const failed = observed(bad, 5);
    expect(failed.lifecycle).toEqual({ phase: "done", outcome: "failed" });
    expect(failed.operation?.error?.errors[0]?.code).toBe("INVALID_IMAGE_TAR");
  });

  it.each([
    [
      "503",
      failure(503, "backendError"),
      /^Compute unreachable for 0 s \(HTTP 503 backendError\); still following$/,
    ],
    [
      "no answer",
      failure(0, "networkError"),
      /^Compute unreachable for 0 s \(networkError\); still following$/,
    ],
    [
      "401 after the refresh",
      failure(401, "authError"),
      /^Compute refuses to report the operation for 0 s \(HTTP 401/,
    ],
    ["403 forbidden", failure(403, "forbidden"), /^Compute refuses to report the operation/],
  ])("keeps following through %s, never ending the operation, and says so", (_, error, message) => {
    const d = on(subject(following(), ours(Operation_Status.RUNNING)), {
      type: "waitFailed",
      error,
      now: T0,
    });
    expect(d.lifecycle).toMatchObject({ phase: "following", failures: 1, unreachableSinceMs: T0 });
    expect(d.operation?.status).toBe(Operation_Status.RUNNING);
    expect(d.operation?.statusMessage).toMatch(message);
    expect(d.effect).toEqual({ kind: "wait", delayMs: 100 });
  });

  it("counts how long Compute has been unreachable, with bounded backoff", () => {
    const state = following({ failures: 40, unreachableSinceMs: T0 });
    const d = on(subject(state, ours(Operation_Status.RUNNING)), {
      type: "waitFailed",
      error: failure(503, "backendError"),
      now: T0 + 4 * 60_000,
    });
    expect(d.operation?.statusMessage).toMatch(/^Compute unreachable for 4 m/);
    expect(d.lifecycle).toMatchObject({ failures: 41, unreachableSinceMs: T0 });
  });

  it("looks at the image at once when the operation answers 404", () => {
    const d = on(subject(following()), {
      type: "waitFailed",
      error: failure(404, "notFound"),
      now: T0,
    });
    expect(d.lifecycle).toMatchObject({ by: "operation", missingSinceMs: T0 });
    expect(d.effect).toEqual({ kind: "getImage", delayMs: 0 });
  });

  it("never ends on one 404 of the operation and one of the image: it asks again with backoff until the 404s have lasted the grace", () => {
    let s = subject(following(), ours(Operation_Status.RUNNING));
    const calls: string[] = [];
    let now = T0;
    for (let i = 0; i < 20 && s.lifecycle.phase !== "done"; i++) {
      const last = calls.at(-1);
      const e: LifecycleEvent =
        last === "getImage"
          ? { type: "imageMissing", now }
          : { type: "waitFailed", error: failure(404, "notFound"), now };
      const d = on(s, e);
      s = { ...s, lifecycle: d.lifecycle, operation: d.operation ?? s.operation };
      if (d.effect.kind === "none") break;
      calls.push(d.effect.kind);
      now += d.effect.delayMs;
      if (s.lifecycle.phase !== "done") expect(s.operation.status).toBe(Operation_Status.RUNNING);
    }
    expect(s.lifecycle).toEqual({ phase: "done", outcome: "failed" });
    expect(now - T0).toBeGreaterThanOrEqual(10_000);
    expect(calls.slice(0, 4)).toEqual(["getImage", "wait", "getImage", "wait"]);
    expect(s.operation.error?.errors[0]?.message).toMatch(
      /operation-c1 is gone and image web does not exist/,
    );
  });

  it("follows the image once it appears after a run of 404s", () => {
    const s = subject(
      following({ missingSinceMs: T0, failures: 3 }),
      ours(Operation_Status.RUNNING),
    );
    const d = on(s, {
      type: "imageFound",
      image: { id: "111", status: "PENDING", labels: {} },
      now: T0 + 5000,
    });
    expect(d.lifecycle).toEqual({
      phase: "following",
      computeOperation: "operation-c1",
      targetId: "111",
      by: "image",
      failures: 0,
    });
  });

  it("reports from the image: READY succeeds, FAILED fails, missing fails, someone else's fails", () => {
    const byImage = subject(following({ by: "image" }), ours(Operation_Status.RUNNING));
    const img = (status: string, id = "111") => ({ id, status, labels: {} });
    expect(on(byImage, { type: "imageFound", image: img("READY"), now: T0 }).lifecycle).toEqual({
      phase: "done",
      outcome: "succeeded",
    });
    const failed = on(byImage, { type: "imageFound", image: img("FAILED"), now: T0 });
    expect(failed.lifecycle).toEqual({ phase: "done", outcome: "failed" });
    expect(failed.operation?.error?.errors[0]?.code).toBe("IMAGE_FAILED");
    const missingFor = (ms: number) =>
      subject(following({ by: "image", missingSinceMs: T0 - ms }), ours(Operation_Status.RUNNING));
    expect(on(missingFor(9_000), { type: "imageMissing", now: T0 }).lifecycle.phase).toBe(
      "following",
    );
    const missing = on(missingFor(10_000), { type: "imageMissing", now: T0 });
    expect(missing.lifecycle).toEqual({ phase: "done", outcome: "failed" });
    expect(missing.operation?.error?.errors[0]?.message).toMatch(
      /operation-c1 is gone and image web does not exist/,
    );
    const foreign = { type: "imageFound", image: img("READY", "999"), now: T0 } as const;
    expect(on(byImage, foreign).lifecycle.phase).toBe("following");
    expect(on(missingFor(10_000), foreign).lifecycle).toEqual({
      phase: "done",
      outcome: "failed",
    });
    expect(on(byImage, { type: "imageFound", image: img("PENDING"), now: T0 }).effect).toEqual({
      kind: "getImage",
      delayMs: 5000,
    });
  });
});

describe("decide: done", () => {
  it("is final: every event leaves it as it is, and a cancel is refused", () => {
    const done = subject({ phase: "done", outcome: "succeeded" }, ours(Operation_Status.DONE));
    for (const e of [
      { type: "run", now: T0 },
      { type: "inserted", operation: compute(), now: T0 },
      { type: "imageMissing", now: T0 },
    ] as const) {
      expect(on(done, e)).toEqual({ lifecycle: done.lifecycle, effect: { kind: "none" } });
    }
    expect(on(done, { type: "cancel", by: "a", now: T0 }).refused).toMatch(/already DONE/);
  });

  it("answers a cancel of a cancelled operation with itself: cancel is idempotent", () => {
    const cancelled = subject({ phase: "done", outcome: "cancelled" }, ours(Operation_Status.DONE));
    expect(on(cancelled, { type: "cancel", by: "a", now: T0 })).toEqual({
      lifecycle: cancelled.lifecycle,
      effect: { kind: "none" },
    });
  });
});
