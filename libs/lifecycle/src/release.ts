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

/** What a caller asked. */
export type ReleaseRequest =
  | { readonly kind: "promote"; readonly image: string }
  | {
      readonly kind: "rollback";
      readonly family: string;
      /** The image to go back to; default: the newest one before the current image. */
      readonly toImage?: string;
      /** The image rolled back from becomes OBSOLETE rather than DEPRECATED. */
      readonly obsolete?: boolean;
    };

/** An image of the family, as images.list shows it. */
export interface FamilyImage {
  readonly name: string;
  /** PENDING, READY, FAILED or DELETING. */
  readonly status: string;
  /** Its deprecation state; undefined means ACTIVE. */
  readonly state?: "DEPRECATED" | "OBSOLETE" | "DELETED";
  /** RFC 3339. */
  readonly creationTimestamp: string;
}

export interface ReleasePlan {
  readonly family: string;
  /** The image that becomes ACTIVE. */
  readonly target: string;
  /** Whether the target was ACTIVE already (no call needed to activate it). */
  readonly targetActive: boolean;
  /** The ACTIVE images that are retired, in order, and to what. */
  readonly retire: readonly { readonly image: string; readonly state: "DEPRECATED" | "OBSOLETE" }[];
}

export type ReleaseLifecycle =
  | { readonly phase: "accepted" }
  /** Claiming the family and reading it; `failures` in a row (or waits for another release). */
  | { readonly phase: "reading"; readonly failures: number }
  | { readonly phase: "activating"; readonly plan: ReleasePlan; readonly failures: number }
  /** Retiring `plan.retire[next]`. */
  | {
      readonly phase: "retiring";
      readonly plan: ReleasePlan;
      readonly next: number;
      readonly failures: number;
    }
  | {
      readonly phase: "done";
      readonly outcome: "released" | "refused" | "failed";
      readonly message: string;
      /** The image the family resolves to, once released. */
      readonly target?: string;
    };

export type ReleaseEvent =
  | { readonly type: "run" }
  /**
   * The family, read once claimed. For a promotion the driver reads the target first to learn
   * its family; `target` is undefined when it does not exist.
   */
  | {
      readonly type: "familyRead";
      readonly family: string | undefined;
      readonly images: readonly FamilyImage[];
    }
  /** Another release holds the family. */
  | { readonly type: "familyBusy"; readonly holder: string }
  /** The images.deprecate the effect asked for is done. */
  | { readonly type: "applied" }
  | { readonly type: "failed"; readonly error: CallFailure };

export type ReleaseEffect =
  /** Claim the family for this operation (a no-op if it holds it), then read it. */
  | { readonly kind: "readFamily"; readonly delayMs: number }
  /** images.deprecate of `image` with `status` (undefined clears it) under `requestId`. */
  | {
      readonly kind: "deprecate";
      readonly image: string;
      readonly status:
        | {
            readonly state: "DEPRECATED" | "OBSOLETE";
            /** The image that replaces it (the target), by name in the same project. */
            readonly replacement: string;
          }
        | undefined;
      readonly requestId: string;
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
            lifecycle: { phase: "reading", failures },
            effect: { kind: "readFamily", delayMs: delay(failures) },
            message: `waiting for ${event.holder}, which is releasing the same family`,
          };
        }
        case "failed":
          return failedCall(lifecycle, event.error, delay, () => ({
            kind: "readFamily",
            delayMs: delay(lifecycle.failures + 1),
          }));
        case "familyRead": {
          const plan = planOf(request, event.family, event.images);
          if (typeof plan === "string")
            return {
              lifecycle: { phase: "done", outcome: "refused", message: plan },
              effect: { kind: "releaseFamily" },
              message: plan,
            };
          return step(plan, plan.targetActive ? -1 : undefined, requestId);
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
  }
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
      message: `making ${plan.target} what ${plan.family} resolves to`,
    };
  const next = done + 1;
  if (next >= plan.retire.length) {
    const message =
      plan.retire.length === 0
        ? `${plan.family} resolves to ${plan.target}`
        : `${plan.family} resolves to ${plan.target}; ${plan.retire.map((r) => `${r.image} is ${r.state}`).join(", ")}`;
    return {
      lifecycle: { phase: "done", outcome: "released", message, target: plan.target },
      effect: { kind: "releaseFamily", family: plan.family },
      message,
    };
  }
  const retiring = plan.retire[next];
  return {
    lifecycle: { phase: "retiring", plan, next, failures: 0 },
    effect: callAt(plan, next, requestId, 0),
    message: `${plan.target} is ACTIVE; making ${retiring?.image ?? ""} ${retiring?.state ?? ""}`,
  };
}

function callAt(
  plan: ReleasePlan,
  at: number | undefined,
  requestId: string,
  delayMs: number,
): ReleaseEffect {
  if (at === undefined)
    return {
      kind: "deprecate",
      image: plan.target,
      status: undefined,
      requestId: requestIdOf(requestId, plan.target, "ACTIVE"),
      delayMs,
    };
  const retire = plan.retire[at];
  if (retire === undefined) return NOTHING;
  return {
    kind: "deprecate",
    image: retire.image,
    status: { state: retire.state, replacement: plan.target },
    requestId: requestIdOf(requestId, retire.image, retire.state),
    delayMs,
  };
}

/** A retryable failure repeats the call after a backoff; a final one ends the release. */
function failedCall(
  lifecycle: Extract<ReleaseLifecycle, { failures: number }>,
  error: CallFailure,
  delay: (failures: number) => number,
  again: (failures: number) => ReleaseEffect,
): ReleaseDecision {
  const failures = lifecycle.failures + 1;
  const what = error.httpStatus === 0 ? error.reason : `HTTP ${error.httpStatus} ${error.reason}`;
  if (error.kind === "retryable") {
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
  const left =
    lifecycle.phase === "retiring"
      ? ` ${lifecycle.plan.retire
          .slice(lifecycle.next)
          .map((r) => r.image)
          .join(", ")} stayed ACTIVE beside ${lifecycle.plan.target}.`
      : lifecycle.phase === "activating"
        ? " No image of the family was changed."
        : "";
  const message = `Compute refused the release (${what}: ${error.message}).${left}`;
  return {
    lifecycle: { phase: "done", outcome: "failed", message },
    effect:
      lifecycle.phase === "reading"
        ? { kind: "releaseFamily" }
        : { kind: "releaseFamily", family: lifecycle.plan.family },
    message,
  };
}

const isActive = (i: FamilyImage) => i.state === undefined;
const newestFirst = (a: FamilyImage, b: FamilyImage) =>
  a.creationTimestamp < b.creationTimestamp
    ? 1
    : a.creationTimestamp > b.creationTimestamp
      ? -1
      : 0;

/**
 * The plan from the family as read once claimed, or why there is none. What the family resolves
 * to is its newest READY ACTIVE image, as Compute's images.getFromFamily answers.
 */
export function planOf(
  request: ReleaseRequest,
  family: string | undefined,
  images: readonly FamilyImage[],
): ReleasePlan | string {
  const byName = new Map(images.map((i) => [i.name, i]));
  let target: FamilyImage | undefined;
  let retiredAs: "DEPRECATED" | "OBSOLETE" = "DEPRECATED";
  if (request.kind === "promote") {
    target = byName.get(request.image);
    if (target === undefined) return `image ${request.image} does not exist`;
    if (family === undefined)
      return `image ${request.image} belongs to no family: set its family to promote it`;
  } else {
    if (family === undefined || images.length === 0)
      return `family ${request.family} has no images`;
    const current = images.filter((i) => i.status === "READY" && isActive(i)).sort(newestFirst)[0];
    if (request.toImage !== undefined) {
      target = byName.get(request.toImage);
      if (target === undefined)
        return `image ${request.toImage} is not in family ${request.family}`;
    } else {
      target = images
        .filter(
          (i) =>
            i.status === "READY" &&
            i.name !== current?.name &&
            i.state !== "OBSOLETE" &&
            i.state !== "DELETED" &&
            (current === undefined || i.creationTimestamp < current.creationTimestamp),
        )
        .sort(newestFirst)[0];
      if (target === undefined)
        return `family ${request.family} has no image to roll back to before ${current?.name ?? "its current one"}`;
    }
    if (request.obsolete === true) retiredAs = "OBSOLETE";
  }
  if (target.status !== "READY")
    return `image ${target.name} is ${target.status}: only a READY image can be released`;
  if (target.state === "OBSOLETE" || target.state === "DELETED")
    return `image ${target.name} is ${target.state}: make it ACTIVE with DeprecateImage first if it is meant to come back`;
  const retire = images
    .filter((i) => i.name !== target.name && isActive(i))
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((i) => ({ image: i.name, state: retiredAs }));
  return { family, target: target.name, targetActive: isActive(target), retire };
}
