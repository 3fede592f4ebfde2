import type { CallFailure } from "./events";

/**
 * The release lifecycle: PromoteImage and RollbackFamily as one state machine, pure as `decide`
 * is. A release makes one image what its family resolves to (ACTIVE, its deprecation cleared)
 * and every other ACTIVE image of the family DEPRECATED (or, for the image a rollback leaves,
 * OBSOLETE if asked) with `replacement` = that image. Compute enacts nothing by itself, so a
 * release is several images.deprecate calls; the rules it keeps across crashes between any two:
 *
 * - The target is made ACTIVE before any other image is retired: a release cut short leaves the
 *   family with one ACTIVE image too many, never with none (Compute resolves a family to its
 *   newest ACTIVE image, so a family never stops resolving).
 * - A re-run resumes at the committed step and repeats at most the call it was making, with the
 *   same requestId (`requestIdOf`): Compute answers a repeat with the first call's operation, and
 *   the call is idempotent anyway.
 * - Releases of one family are serialised: the family is claimed (by operation) before it is
 *   read, and the plan is made from what the family is once claimed, so a second release sees
 *   the first's result.
 * - An image deleted meanwhile (404 on its deprecate) is no longer ACTIVE: the release goes on.
 *   Any other final refusal ends the release and says which images were left as they were.
 */

/** A deprecation state as Compute names it; ACTIVE means none. */
export type DeprecationState = "ACTIVE" | "DEPRECATED" | "OBSOLETE" | "DELETED";

/** The three informational dates of Compute's DeprecationStatus, RFC 3339. */
export interface DeprecationTimes {
  readonly deprecated?: string;
  readonly obsolete?: string;
  readonly deleted?: string;
}

/** A family's retention policy (SetFamilyPolicy), enacted by the worker's reconciler. */
export interface RetentionPolicy {
  /** Keep the newest N READY images; older ones are deleted. 0: no count limit. */
  readonly keepNewest: number;
  /** An ACTIVE image other than the current one is DEPRECATED this long after creation; 0: never. */
  readonly deprecateAfterMs: number;
  /** An OBSOLETE image is deleted this long after it became OBSOLETE; 0: never. */
  readonly deleteAfterMs: number;
  /** Images carrying this label key are never touched. */
  readonly exclusionLabel: string;
}

/** What a caller (or the reconciler, for `deprecate` with `scheduledBy` and `retain`) asked. */
export type ReleaseRequest =
  | {
      readonly kind: "promote";
      readonly image: string;
      /**
       * CreateImage's promote-when-ready: the CreateImage operation that makes the image. The
       * promotion waits for it to be DONE, and is refused if it failed.
       */
      readonly afterOperation?: string;
      /** A check the promotion must pass once the image is READY (CreateImage's release_check_url). */
      readonly check?: { readonly url: string };
    }
  | {
      readonly kind: "rollback";
      readonly family: string;
      /** The image to go back to; default: the newest one before the current image. */
      readonly toImage?: string;
      /** The image rolled back from becomes OBSOLETE rather than DEPRECATED. */
      readonly obsolete?: boolean;
    }
  | {
      /** DeprecateImage: set one image's deprecation status now (a scheduled step later). */
      readonly kind: "deprecate";
      readonly image: string;
      /** The state now; undefined keeps the image's (only its dates and schedule change). */
      readonly state?: DeprecationState;
      /** The suggested replacement, by name in the same project; "" for none. */
      readonly replacement: string;
      /** The plan as Compute shows it: the times written with the status. */
      readonly times: DeprecationTimes;
      /**
       * The steps still to come, for the reconciler to enact: recorded as the image's schedule
       * once the status is written (replacing any earlier schedule).
       */
      readonly steps: readonly ScheduledStep[];
      /**
       * Set on a step the reconciler enacts: the operation whose schedule it belongs to. The step
       * is skipped unless that schedule is still the image's (a promotion or a later
       * DeprecateImage replaces it), or if the image is already at or past the step's state.
       */
      readonly scheduledBy?: string;
    }
  | {
      /** The reconciler's pass over a family under its retention policy. */
      readonly kind: "retain";
      readonly family: string;
      readonly policy: RetentionPolicy;
    };

/** One step of an image's schedule: become `state` at `atMs` (ms since epoch). */
export interface ScheduledStep {
  readonly state: "DEPRECATED" | "OBSOLETE" | "DELETED";
  readonly atMs: number;
}

/** An image of the family, as images.list shows it. */
export interface FamilyImage {
  readonly name: string;
  /** PENDING, READY, FAILED or DELETING. */
  readonly status: string;
  /** Its deprecation state; undefined means ACTIVE. */
  readonly state?: "DEPRECATED" | "OBSOLETE" | "DELETED";
  /** RFC 3339. */
  readonly creationTimestamp: string;
  /** Its deprecation's dates, as Compute shows them. */
  readonly times?: DeprecationTimes;
  /** The image its deprecation names as its replacement, by name; absent for none. */
  readonly replacement?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** The operation whose schedule the image follows now (the service's record), if any. */
  readonly scheduledBy?: string;
  /**
   * A rollback retired it (the service's record): a later rollback never goes back to it by
   * default, so rolling back twice goes further back rather than undoing the first.
   */
  readonly rolledBack?: boolean;
}

/** One images.deprecate (or images.delete, `to: "removed"`) of a release. */
export interface Move {
  readonly image: string;
  readonly to: DeprecationState | "removed";
  /** The image that replaces it, by name in the same project; absent for none. */
  readonly replacement?: string;
  readonly times?: DeprecationTimes;
  /** The image a rollback goes back from (the family's current one), which it records. */
  readonly rolledBack?: true;
}

export interface ReleasePlan {
  /** The family claimed for the release; undefined for an image that belongs to none. */
  readonly family: string | undefined;
  /** The image that becomes ACTIVE (promote, rollback); undefined when none does. */
  readonly target: string | undefined;
  /** Whether there is no activation call to make (the target is ACTIVE, or there is none). */
  readonly targetActive: boolean;
  /** The other moves, in order, after the activation. */
  readonly retire: readonly Move[];
  /** The planning round (see the `reading` phase); absent for the first. */
  readonly round?: number;
  /** The schedule to record once the moves are made (DeprecateImage with steps to come). */
  readonly schedule?: { readonly image: string; readonly steps: readonly ScheduledStep[] };
}

export type ReleaseLifecycle =
  | { readonly phase: "accepted" }
  /**
   * Claiming the family and reading it; `failures` in a row (or waits for another release).
   * `target`: the image an interrupted release had chosen (it lost the family's claim midway):
   * the new plan keeps it, rather than choosing again from a family it has changed.
   */
  | {
      readonly phase: "reading";
      readonly failures: number;
      readonly target?: string;
      /**
       * How many times the release lost the family's claim midway and planned again. Each round's
       * calls have their own request ids: a move repeated after another release undid it is a new
       * request, which Compute must not take for a repeat of the first.
       */
      readonly round?: number;
      /** The promotion's release check has passed (asked once, then never again). */
      readonly checked?: boolean;
    }
  | { readonly phase: "activating"; readonly plan: ReleasePlan; readonly failures: number }
  /** Making `plan.retire[next]`. */
  | {
      readonly phase: "retiring";
      readonly plan: ReleasePlan;
      readonly next: number;
      readonly failures: number;
    }
  /** Recording `plan.schedule` for the reconciler. */
  | { readonly phase: "scheduling"; readonly plan: ReleasePlan; readonly failures: number }
  | {
      readonly phase: "done";
      /**
       * `released`: done as asked; `unchanged`: nothing needed doing (a scheduled step whose
       * schedule was replaced, a retention pass with nothing due); `refused`: not done, nothing
       * changed; `failed`: Compute refused a call (the message says what was left as it was);
       * `cancelled`: cancelled before any call.
       */
      readonly outcome: "released" | "unchanged" | "refused" | "failed" | "cancelled";
      readonly message: string;
      /** The image the family resolves to, once released. */
      readonly target?: string;
      /** Why it was refused or failed, as Compute-style code and HTTP status. */
      readonly error?: { readonly code: string; readonly httpStatus: number };
    };

/** Why a release cannot be made, as the operation's error reports it. */
export interface Refusal {
  readonly refused: string;
  /** RESOURCE_NOT_FOUND (404) for a missing image or family, else CONDITION_NOT_MET (412). */
  readonly code: "RESOURCE_NOT_FOUND" | "CONDITION_NOT_MET";
}

const notFound = (refused: string): Refusal => ({ refused, code: "RESOURCE_NOT_FOUND" });

/** DONE, refused before any change: the operation's error says why. */
const refusedWith = (r: Refusal): ReleaseDecision => ({
  lifecycle: {
    phase: "done",
    outcome: "refused",
    message: r.refused,
    error: { code: r.code, httpStatus: r.code === "RESOURCE_NOT_FOUND" ? 404 : 412 },
  },
  effect: { kind: "releaseFamily" },
  message: r.refused,
});
const notMet = (refused: string): Refusal => ({ refused, code: "CONDITION_NOT_MET" });

export type ReleaseEvent =
  | { readonly type: "run" }
  /**
   * The family, read once claimed, at `now` (ms since epoch; retention's clock). For a promotion
   * or a deprecation the driver reads the image first to learn its family; `images` then holds
   * only that image when it has none, and nothing when it does not exist.
   */
  | {
      readonly type: "familyRead";
      readonly family: string | undefined;
      readonly images: readonly FamilyImage[];
      readonly now?: number;
    }
  /** Another release holds the family. */
  | { readonly type: "familyBusy"; readonly holder: string }
  /** The operation a promotion waits for (`afterOperation`) is not DONE, or did not succeed. */
  | {
      readonly type: "awaited";
      readonly operation: string;
      readonly outcome: "open" | "failed" | "missing";
    }
  /** The promotion's release check is due (its image is READY, the check not passed yet). */
  | { readonly type: "checkDue" }
  /**
   * The release check answered with `status` (0: no answer; -1: the URL is refused by the
   * deployment's policy now; `reason` says why).
   */
  | { readonly type: "checked"; readonly status: number; readonly reason?: string }
  /** The call the effect asked for is done. */
  | { readonly type: "applied" }
  | { readonly type: "failed"; readonly error: CallFailure };

/** The status an images.deprecate writes; undefined clears it (ACTIVE). */
export interface DeprecateStatus extends DeprecationTimes {
  readonly state: "DEPRECATED" | "OBSOLETE" | "DELETED";
  /** The image that replaces it, by name in the same project. */
  readonly replacement?: string;
}

export type ReleaseEffect =
  /** Claim the family for this operation (a no-op if it holds it), then read it. */
  | { readonly kind: "readFamily"; readonly delayMs: number }
  /**
   * images.deprecate of `image` with `status` under `requestId`. With `status` undefined (the
   * image becomes ACTIVE) the driver also drops the image's schedule: an image made current
   * again has no end of life until one is set.
   */
  | {
      readonly kind: "deprecate";
      readonly image: string;
      readonly status: DeprecateStatus | undefined;
      readonly requestId: string;
      readonly delayMs: number;
      /** The image is the one a rollback goes back from: record it so. */
      readonly rolledBack?: true;
    }
  /** POST the release check to `url` (signed; see CreateImage's release_check_url). */
  | { readonly kind: "check"; readonly url: string; readonly delayMs: number }
  /** images.delete of `image` under `requestId`. */
  | {
      readonly kind: "delete";
      readonly image: string;
      readonly requestId: string;
      readonly delayMs: number;
    }
  /** Record `steps` as the image's schedule, this operation's (replacing any other). */
  | {
      readonly kind: "schedule";
      readonly image: string;
      readonly steps: readonly ScheduledStep[];
      readonly delayMs: number;
    }
  /** Give the family up (the one claimed, when known); the release is DONE. */
  | { readonly kind: "releaseFamily"; readonly family?: string }
  | { readonly kind: "none" };

export interface ReleaseDecision {
  readonly lifecycle: ReleaseLifecycle;
  readonly effect: ReleaseEffect;
  /** What the operation's status message says now, when it changes. */
  readonly message?: string;
}

export interface ReleasePolicy {
  /** The pause before retry `n` (0-based) of a failed call, or of a claim the family refused. */
  readonly retryDelay: (n: number) => number;
  /**
   * Retryable failures of one call in a row after which the release ends failed (saying what
   * was left as it was). Default: 50, about 25 minutes at a 30 s backoff cap.
   */
  readonly maxFailures?: number;
}

/**
 * The requestId of one images.deprecate of one release: derived from the operation's own
 * requestId, the image and the move, so a re-run's repeat is the same request to Compute.
 */
export function requestIdOf(operationRequestId: string, image: string, move: string): string {
  // A UUID's shape from an FNV-1a digest of the three: Compute wants a UUID, and any repeat of
  // the same (operation, image, move) must give the same one.
  const text = `${operationRequestId}\n${image}\n${move}`;
  const words: string[] = [];
  for (let seed = 0; seed < 4; seed++) {
    let h = 0x811c9dc5 ^ seed;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    words.push((h >>> 0).toString(16).padStart(8, "0"));
  }
  const hex = words.join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const NOTHING: ReleaseEffect = { kind: "none" };

/** The next step of a release from its state and one event. */
export function decideRelease(
  request: ReleaseRequest,
  requestId: string,
  lifecycle: ReleaseLifecycle,
  event: ReleaseEvent,
  policy: ReleasePolicy,
): ReleaseDecision {
  const delay = (failures: number) => (failures <= 0 ? 0 : policy.retryDelay(failures - 1));
  const stay = (next: ReleaseLifecycle): ReleaseDecision => ({ lifecycle: next, effect: NOTHING });
  const failedCall = (
    at: Extract<ReleaseLifecycle, { failures: number }>,
    error: CallFailure,
    _delay: (failures: number) => number,
    again: (failures: number) => ReleaseEffect,
  ) => failedCallOf(at, error, delay, again, policy.maxFailures ?? 50);
  switch (lifecycle.phase) {
    case "done":
      return stay(lifecycle);
    case "accepted":
      return event.type === "run"
        ? {
            lifecycle: { phase: "reading", failures: 0 },
            effect: { kind: "readFamily", delayMs: 0 },
          }
        : stay(lifecycle);
    case "reading":
      switch (event.type) {
        case "run":
          return { lifecycle, effect: { kind: "readFamily", delayMs: delay(lifecycle.failures) } };
        case "familyBusy": {
          const failures = lifecycle.failures + 1;
          return {
            lifecycle: { ...lifecycle, failures },
            effect: { kind: "readFamily", delayMs: delay(failures) },
            message: `waiting for ${event.holder}, which is releasing the same family`,
          };
        }
        case "checkDue":
          return request.kind === "promote" && request.check !== undefined
            ? {
                lifecycle,
                effect: { kind: "check", url: request.check.url, delayMs: 0 },
                message: `asking the release check at ${hostOf(request.check.url)}`,
              }
            : stay(lifecycle);
        case "checked": {
          if (request.kind !== "promote" || request.check === undefined) return stay(lifecycle);
          const host = hostOf(request.check.url);
          if (event.status >= 200 && event.status <= 299)
            return {
              lifecycle: { ...lifecycle, failures: 0, checked: true },
              effect: { kind: "readFamily", delayMs: 0 },
              message: `the release check at ${host} passed`,
            };
          const failures = lifecycle.failures + 1;
          const answer = event.status <= 0 ? (event.reason ?? "no answer") : `HTTP ${event.status}`;
          // No answer (0), 429 and 5xx are asked again; a URL the policy refuses (-1) is not.
          if (
            (event.status === 0 || event.status === 429 || event.status >= 500) &&
            failures < (policy.maxFailures ?? 50)
          )
            return {
              lifecycle: { ...lifecycle, failures },
              effect: { kind: "check", url: request.check.url, delayMs: delay(failures) },
              message: `the release check at ${host} answered ${answer}; asking again`,
            };
          return refusedWith(
            notMet(
              `the release check at ${host} answered ${answer}: the image was not promoted (it stays DEPRECATED; promote it with PromoteImage once it should be)`,
            ),
          );
        }
        case "awaited": {
          if (event.outcome === "open") {
            const failures = lifecycle.failures + 1;
            return {
              lifecycle: { ...lifecycle, failures },
              effect: { kind: "readFamily", delayMs: delay(failures) },
              message: `waiting for ${event.operation}, which creates the image, to be DONE`,
            };
          }
          return refusedWith(
            notMet(
              event.outcome === "failed"
                ? `${event.operation}, which was to create the image, ended with an error: nothing to promote`
                : `${event.operation}, which was to create the image, is not recorded (expired?): nothing to promote`,
            ),
          );
        }
        case "failed":
          return failedCall(lifecycle, event.error, delay, () => ({
            kind: "readFamily",
            delayMs: delay(lifecycle.failures + 1),
          }));
        case "familyRead": {
          // Resumed after a lapsed claim: keep the target chosen, whatever the family now shows.
          const resumed: ReleaseRequest =
            lifecycle.target === undefined
              ? request
              : request.kind === "promote"
                ? { kind: "promote", image: lifecycle.target }
                : request.kind === "rollback"
                  ? { ...request, toImage: lifecycle.target }
                  : request;
          const plan = planOf(resumed, event.family, event.images, event.now ?? 0);
          const round = lifecycle.round;
          if ("refused" in plan) return refusedWith(plan);
          if ("unchanged" in plan)
            return {
              lifecycle: { phase: "done", outcome: "unchanged", message: plan.unchanged },
              effect: {
                kind: "releaseFamily",
                ...(event.family !== undefined && { family: event.family }),
              },
              message: plan.unchanged,
            };
          const planned = round === undefined ? plan : { ...plan, round };
          return step(planned, planned.targetActive ? -1 : undefined, requestId);
        }
        default:
          return stay(lifecycle);
      }
    case "activating":
    case "retiring": {
      const at = lifecycle.phase === "activating" ? undefined : lifecycle.next;
      switch (event.type) {
        case "run":
          return {
            lifecycle,
            effect: callAt(lifecycle.plan, at, requestId, delay(lifecycle.failures)),
          };
        case "applied":
          return step(lifecycle.plan, at === undefined ? -1 : at, requestId);
        case "familyBusy":
          return replan(lifecycle.plan, lifecycle.failures, event.holder, delay);
        case "failed": {
          // A retired image deleted meanwhile is no longer ACTIVE: go on to the next.
          if (at !== undefined && event.error.httpStatus === 404)
            return step(lifecycle.plan, at, requestId);
          return failedCall(lifecycle, event.error, delay, (failures) =>
            callAt(lifecycle.plan, at, requestId, delay(failures)),
          );
        }
        default:
          return stay(lifecycle);
      }
    }
    case "scheduling":
      switch (event.type) {
        case "run":
          return { lifecycle, effect: scheduleEffect(lifecycle.plan, delay(lifecycle.failures)) };
        case "applied":
          return finished(lifecycle.plan);
        case "familyBusy":
          return replan(lifecycle.plan, lifecycle.failures, event.holder, delay);
        case "failed":
          return failedCall(lifecycle, event.error, delay, (failures) =>
            scheduleEffect(lifecycle.plan, delay(failures)),
          );
        default:
          return stay(lifecycle);
      }
  }
}

/**
 * The claim lapsed midway (this worker paused past it, or died and was re-run late), and what
 * was read under it may be stale: read the family again, keeping the target, in a new round of
 * request ids.
 */
function replan(
  plan: ReleasePlan,
  failures: number,
  holder: string,
  delay: (failures: number) => number,
): ReleaseDecision {
  const next = failures + 1;
  return {
    lifecycle: {
      phase: "reading",
      failures: next,
      round: (plan.round ?? 0) + 1,
      ...(plan.target !== undefined && { target: plan.target }),
      // A plan exists only once any release check passed: it is never asked again.
      checked: true,
    },
    effect: { kind: "readFamily", delayMs: delay(next) },
    message: `the claim on ${plan.family ?? "the family"} lapsed (${holder}); reading the family again before going on`,
  };
}

function scheduleEffect(plan: ReleasePlan, delayMs: number): ReleaseEffect {
  return plan.schedule === undefined
    ? NOTHING
    : { kind: "schedule", image: plan.schedule.image, steps: plan.schedule.steps, delayMs };
}

/** What a move makes of its image, for messages: "web-1 is DEPRECATED", "web-0 is deleted". */
const described = (m: Move) => `${m.image} is ${m.to === "removed" ? "deleted" : m.to}`;

function finished(plan: ReleasePlan): ReleaseDecision {
  const moves = plan.retire.map(described);
  const head =
    plan.target !== undefined && plan.family !== undefined
      ? [`${plan.family} resolves to ${plan.target}`]
      : [];
  const steps =
    plan.schedule === undefined || plan.schedule.steps.length === 0
      ? []
      : [
          `scheduled: ${plan.schedule.steps.map((s) => `${s.state} at ${new Date(s.atMs).toISOString()}`).join(", ")}`,
        ];
  const message = [...head, ...moves, ...steps].join("; ");
  return {
    lifecycle: {
      phase: "done",
      outcome: "released",
      message,
      ...(plan.target !== undefined && { target: plan.target }),
    },
    effect: {
      kind: "releaseFamily",
      ...(plan.family !== undefined && { family: plan.family }),
    },
    message,
  };
}

/**
 * After the call at `done` (undefined: none yet; -1: the activation), the next call, or DONE.
 * Commits are made before each call, so the state names the call in flight.
 */
function step(plan: ReleasePlan, done: number | undefined, requestId: string): ReleaseDecision {
  if (done === undefined)
    return {
      lifecycle: { phase: "activating", plan, failures: 0 },
      effect: callAt(plan, undefined, requestId, 0),
      message: `making ${plan.target ?? ""} what ${plan.family ?? ""} resolves to`,
    };
  const next = done + 1;
  if (next >= plan.retire.length) {
    if (plan.schedule !== undefined)
      return {
        lifecycle: { phase: "scheduling", plan, failures: 0 },
        effect: scheduleEffect(plan, 0),
        message: `recording the schedule of ${plan.schedule.image}`,
      };
    return finished(plan);
  }
  const move = plan.retire[next];
  const head = plan.target === undefined ? "" : `${plan.target} is ACTIVE; `;
  return {
    lifecycle: { phase: "retiring", plan, next, failures: 0 },
    effect: callAt(plan, next, requestId, 0),
    message:
      move === undefined
        ? head
        : `${head}${move.to === "removed" ? `deleting ${move.image}` : `making ${move.image} ${move.to}`}`,
  };
}

function callAt(
  plan: ReleasePlan,
  at: number | undefined,
  requestId: string,
  delayMs: number,
): ReleaseEffect {
  if (at === undefined) {
    if (plan.target === undefined) return NOTHING;
    return {
      kind: "deprecate",
      image: plan.target,
      status: undefined,
      requestId: requestIdOf(requestId, plan.target, roundOf(plan, "ACTIVE")),
      delayMs,
    };
  }
  const move = plan.retire[at];
  if (move === undefined) return NOTHING;
  const id = requestIdOf(requestId, move.image, roundOf(plan, move.to));
  if (move.to === "removed") return { kind: "delete", image: move.image, requestId: id, delayMs };
  return {
    kind: "deprecate",
    image: move.image,
    status:
      move.to === "ACTIVE"
        ? undefined
        : {
            state: move.to,
            ...(move.replacement !== undefined && { replacement: move.replacement }),
            ...move.times,
          },
    requestId: id,
    delayMs,
    ...(move.rolledBack && { rolledBack: true as const }),
  };
}

const hostOf = (url: string) => {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
};

/** A move's name in its planning round, for its request id. */
const roundOf = (plan: ReleasePlan, move: string) =>
  plan.round === undefined ? move : `${move} round ${plan.round}`;

/**
 * A retryable failure repeats the call after a backoff, `maxFailures` times in a row at most; a
 * final one (or one too many) ends the release.
 */
function failedCallOf(
  lifecycle: Extract<ReleaseLifecycle, { failures: number }>,
  error: CallFailure,
  delay: (failures: number) => number,
  again: (failures: number) => ReleaseEffect,
  maxFailures: number,
): ReleaseDecision {
  const failures = lifecycle.failures + 1;
  const what = error.httpStatus === 0 ? error.reason : `HTTP ${error.httpStatus} ${error.reason}`;
  if (error.kind === "retryable" && failures < maxFailures) {
    const effect = again(failures);
    const pause = Math.max(
      "delayMs" in effect ? effect.delayMs : 0,
      error.retryAfterMs ?? 0,
      delay(failures),
    );
    return {
      lifecycle: { ...lifecycle, failures },
      effect: "delayMs" in effect ? { ...effect, delayMs: pause } : effect,
      message: `Compute answered ${what}; retrying`,
    };
  }
  let left = "";
  if (lifecycle.phase === "retiring") {
    const rest = lifecycle.plan.retire.slice(lifecycle.next).map((r) => r.image);
    left =
      lifecycle.plan.target === undefined
        ? ` ${rest.join(", ")} stayed as they were.`
        : ` ${rest.join(", ")} stayed ACTIVE beside ${lifecycle.plan.target}.`;
  } else if (lifecycle.phase === "activating")
    left = ` ${lifecycle.plan.target ?? "The target"} may or may not be ACTIVE (an earlier try may have taken effect unanswered); no other image was changed.`;
  else if (lifecycle.phase === "scheduling")
    left = " The status is written; the schedule was not recorded, so nothing will enact it.";
  const message =
    error.kind === "retryable"
      ? `Compute answered ${what} ${failures} times in a row; the release stopped (${error.message}).${left} Run it again with a new request_id.`
      : `Compute refused the release (${what}: ${error.message}).${left}`;
  return {
    lifecycle: {
      phase: "done",
      outcome: "failed",
      message,
      error: { code: failureCode(error), httpStatus: error.httpStatus },
    },
    effect:
      lifecycle.phase === "reading" || lifecycle.plan.family === undefined
        ? { kind: "releaseFamily" }
        : { kind: "releaseFamily", family: lifecycle.plan.family },
    message,
  };
}

/** Compute's reason as an error code: `notFound` → NOT_FOUND, `conditionNotMet` → CONDITION_NOT_MET. */
function failureCode(error: CallFailure): string {
  const code = error.reason.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  return code === "" ? "COMPUTE_ERROR" : code;
}

const isActive = (i: FamilyImage) => i.state === undefined;
const newestFirst = (a: FamilyImage, b: FamilyImage) =>
  a.creationTimestamp < b.creationTimestamp
    ? 1
    : a.creationTimestamp > b.creationTimestamp
      ? -1
      : 0;
const byName = (a: { image: string }, b: { image: string }) => (a.image < b.image ? -1 : 1);

/** Compute's deprecation states in the order an image moves through them. */
export const STATE_ORDER: Readonly<Record<DeprecationState, number>> = {
  ACTIVE: 0,
  DEPRECATED: 1,
  OBSOLETE: 2,
  DELETED: 3,
};

/** What the family resolves to: its newest READY ACTIVE image, as images.getFromFamily answers. */
export function currentOf(images: readonly FamilyImage[]): FamilyImage | undefined {
  return images.filter((i) => i.status === "READY" && isActive(i)).sort(newestFirst)[0];
}

/** The image's dates, with `state`'s stamped `now` when it has none: when it got there, for retention. */
export function stamped(
  times: DeprecationTimes | undefined,
  state: DeprecationState | "removed",
  now: number,
): DeprecationTimes | undefined {
  const field =
    state === "DEPRECATED"
      ? "deprecated"
      : state === "OBSOLETE"
        ? "obsolete"
        : state === "DELETED"
          ? "deleted"
          : undefined;
  if (field === undefined || now <= 0 || times?.[field] !== undefined) return times;
  return { ...times, [field]: new Date(now).toISOString() };
}

/**
 * The image a rollback goes back to: the one the current image replaced, i.e. the latest retired
 * with `replacement` = the current image (by its `deprecated` date, then its creation), that is
 * READY, not OBSOLETE or DELETED, and not itself rolled back from; else the newest such image
 * created before the current one.
 */
export function rollbackTargetOf(images: readonly FamilyImage[]): FamilyImage | undefined {
  const current = currentOf(images);
  const usable = images.filter(
    (i) =>
      i.status === "READY" &&
      i.name !== current?.name &&
      i.state !== "OBSOLETE" &&
      i.state !== "DELETED" &&
      i.rolledBack !== true,
  );
  const replaced =
    current === undefined ? [] : usable.filter((i) => i.replacement === current.name);
  const latest = (a: FamilyImage, b: FamilyImage) => {
    const da = a.times?.deprecated ?? "";
    const db = b.times?.deprecated ?? "";
    return da !== db ? (da < db ? 1 : -1) : newestFirst(a, b);
  };
  return (
    [...replaced].sort(latest)[0] ??
    usable
      .filter((i) => current === undefined || i.creationTimestamp < current.creationTimestamp)
      .sort(newestFirst)[0]
  );
}

/**
 * The plan from the family as read once claimed at `now`, why there is none (a refusal), or
 * `{unchanged}` when there is nothing to do.
 */
export function planOf(
  request: ReleaseRequest,
  family: string | undefined,
  images: readonly FamilyImage[],
  now = 0,
): ReleasePlan | { readonly unchanged: string } | Refusal {
  if (request.kind === "deprecate") return deprecationPlan(request, family, images, now);
  if (request.kind === "retain") {
    if (family === undefined || images.length === 0)
      return { unchanged: `family ${request.family} has no images` };
    const moves = retentionMoves(images, request.policy, now);
    if (moves.length === 0)
      return { unchanged: `nothing in ${request.family} is due under its retention policy` };
    return { family, target: undefined, targetActive: true, retire: moves };
  }
  const named = new Map(images.map((i) => [i.name, i]));
  let target: FamilyImage | undefined;
  let retiredAs: "DEPRECATED" | "OBSOLETE" = "DEPRECATED";
  if (request.kind === "promote") {
    target = named.get(request.image);
    if (target === undefined) return notFound(`image ${request.image} does not exist`);
    if (family === undefined)
      return notMet(
        `image ${request.image} has no family, and only an image of a family can be promoted: create it with one (--family), or set one in Compute (images.patch)`,
      );
  } else {
    if (family === undefined || images.length === 0)
      return notFound(
        `family ${request.family} has no images: check the family's name (GetFamily shows what it holds)`,
      );
    if (request.toImage !== undefined) {
      target = named.get(request.toImage);
      if (target === undefined)
        return notFound(
          `to_image ${request.toImage} is not in family ${request.family}: name one of its images (GetFamily lists them)`,
        );
    } else {
      target = rollbackTargetOf(images);
      if (target === undefined)
        return notMet(
          `family ${request.family} has no image to roll back to before ${currentOf(images)?.name ?? "its current one"}: none is READY and not OBSOLETE or DELETED`,
        );
    }
    if (request.obsolete === true) retiredAs = "OBSOLETE";
  }
  if (target.status !== "READY")
    return notMet(
      `image ${target.name} is ${target.status}: only a READY image can be released (wait for the operation that creates it)`,
    );
  if (target.state === "OBSOLETE" || target.state === "DELETED")
    return notMet(
      `image ${target.name} is ${target.state}: make it ACTIVE with DeprecateImage first if it is meant to come back`,
    );
  const name = target.name;
  const from = request.kind === "rollback" ? currentOf(images)?.name : undefined;
  // Each image retired keeps its own dates (its end of life, if one was planned), and gets the
  // date it was retired, which retention and the next rollback read.
  const retire: Move[] = images
    .filter((i) => i.name !== name && isActive(i))
    .map((i) => {
      const times = stamped(i.times, retiredAs, now);
      return {
        image: i.name,
        to: retiredAs,
        replacement: name,
        ...(times && { times }),
        ...(i.name === from && { rolledBack: true as const }),
      };
    })
    .sort(byName);
  // The target is activated even when it is ACTIVE already: the call also drops its schedule,
  // so a promoted image has no end of life until one is set again.
  return { family, target: name, targetActive: false, retire };
}

function deprecationPlan(
  request: Extract<ReleaseRequest, { kind: "deprecate" }>,
  family: string | undefined,
  images: readonly FamilyImage[],
  now: number,
): ReleasePlan | { readonly unchanged: string } | Refusal {
  const image = images.find((i) => i.name === request.image);
  if (request.scheduledBy !== undefined) {
    // A step of a schedule: only if that schedule is still the image's, and it is not past it.
    if (image === undefined) return { unchanged: `image ${request.image} is gone` };
    if (image.scheduledBy !== request.scheduledBy)
      return {
        unchanged: `the schedule ${request.scheduledBy} set is no longer ${request.image}'s; nothing to do`,
      };
    if (STATE_ORDER[image.state ?? "ACTIVE"] >= STATE_ORDER[request.state ?? "ACTIVE"])
      return { unchanged: `${request.image} is ${image.state ?? "ACTIVE"} already` };
  } else if (image === undefined) return notFound(`image ${request.image} does not exist`);
  // No state asked: the image keeps the one it has, its replacement and dates unless new ones
  // are given, and only its schedule changes.
  const keep = request.state === undefined;
  const state: DeprecationState = request.state ?? image.state ?? "ACTIVE";
  const times = keep
    ? { ...image.times, ...request.times }
    : (stamped(request.times, state, now) ?? {});
  const replacement =
    request.replacement !== "" ? request.replacement : keep ? image.replacement : undefined;
  const move: Move = {
    image: request.image,
    to: state,
    ...(replacement !== undefined && { replacement }),
    times,
  };
  const steps = request.steps.filter((s) => STATE_ORDER[s.state] > STATE_ORDER[state]);
  return {
    family,
    target: undefined,
    targetActive: true,
    retire: [move],
    ...(request.scheduledBy === undefined && {
      schedule: { image: request.image, steps },
    }),
  };
}

/**
 * What a retention policy asks of a family at `now`, as moves: never the current image, never an
 * image with the exclusion label, never one newer than the current image that waits for its
 * promotion (DEPRECATED with no replacement: CreateImage's HOLD or PROMOTE_WHEN_READY), never
 * before an end of life its deprecation dates set, and only READY images. Deleted
 * (images.delete): those past the newest `keepNewest` (the current image takes the first place),
 * and OBSOLETE ones `deleteAfterMs` after they became OBSOLETE (Compute's `obsolete` date, which
 * every move to OBSOLETE writes). DEPRECATED: ACTIVE ones `deprecateAfterMs` after their
 * creation, with the current image as their replacement.
 */
export function retentionMoves(
  images: readonly FamilyImage[],
  policy: RetentionPolicy,
  now: number,
): Move[] {
  const current = currentOf(images);
  if (current === undefined) return [];
  const at = (t: string | undefined) => (t === undefined || t === "" ? undefined : Date.parse(t));
  const notBefore = (t: string | undefined) => {
    const ms = at(t);
    return ms !== undefined && ms > now;
  };
  const held = (i: FamilyImage) =>
    i.state === "DEPRECATED" &&
    i.replacement === undefined &&
    i.creationTimestamp > current.creationTimestamp;
  const kept = images
    .filter(
      (i) =>
        i.status === "READY" &&
        !held(i) &&
        (policy.exclusionLabel === "" || i.labels?.[policy.exclusionLabel] === undefined),
    )
    .sort(newestFirst);
  const moves: Move[] = [];
  // The current image takes the first of the `keepNewest` places; the newest others, the rest.
  const others = kept.filter((i) => i.name !== current.name);
  others.forEach((image, index) => {
    const rank = index + 1;
    // An end of life its own dates set comes first: nothing removes it before then.
    const endOfLife = notBefore(image.times?.deleted) || notBefore(image.times?.obsolete);
    const tooMany = policy.keepNewest > 0 && rank >= policy.keepNewest;
    const obsoleteSince = image.state === "OBSOLETE" ? at(image.times?.obsolete) : undefined;
    const expired =
      policy.deleteAfterMs > 0 &&
      obsoleteSince !== undefined &&
      obsoleteSince + policy.deleteAfterMs <= now;
    if ((tooMany || expired) && !endOfLife) {
      moves.push({ image: image.name, to: "removed" });
      return;
    }
    const created = at(image.creationTimestamp);
    if (
      isActive(image) &&
      policy.deprecateAfterMs > 0 &&
      created !== undefined &&
      created + policy.deprecateAfterMs <= now &&
      !notBefore(image.times?.deprecated)
    ) {
      const times = stamped(image.times, "DEPRECATED", now);
      moves.push({
        image: image.name,
        to: "DEPRECATED",
        replacement: current.name,
        ...(times !== undefined && { times }),
      });
    }
  });
  return moves.sort(byName);
}
