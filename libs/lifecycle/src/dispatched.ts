import {
  backoff,
  dateOf,
  describe,
  finish,
  isAmbiguous,
  record,
  refuse,
  type Decision,
  type Subject,
} from "./decision";
import type { LifecycleEvent } from "./events";
import { accepted, fromImage } from "./following";
import type { Dispatched, Following } from "./lifecycle";
import {
  failedOperation,
  formatDuration,
  withStatusMessage,
  type Failure,
} from "./operation-versions";
import { isOurs } from "./ownership";
import type { LifecyclePolicy } from "./policy";

/**
 * `dispatched`: inserts were sent and none was accepted yet. The rules (docs/design.md, "Settling
 * an unanswered insert"):
 * - Every answered attempt is a fact: a final refusal ends the operation, a retryable one is
 *   retried with backoff while the insert window lasts.
 * - An attempt without a definite answer (no answer, a 5xx, a worker that stopped mid-call) may
 *   have taken effect, or may still. Inside the window it is simply retried with the same
 *   requestId. Past the window but within Compute's requestId memory, the proof is another
 *   insert with that requestId: Compute answers with the original operation if one took effect.
 *   Past the memory only the image's identity settles it, and a 404 proves nothing until the
 *   settle period after the last unanswered attempt is over (and 404s have lasted the grace).
 * - Until then the operation stays PENDING and its status message says what is uncertain.
 */
export function fromDispatched(
  subject: Subject,
  state: Dispatched,
  event: LifecycleEvent,
  policy: LifecyclePolicy,
): Decision {
  const failures = state.failures ?? 0;
  // A state written before the settle rule: take "now" as the last uncertain moment.
  const lastUncertainMs = state.lastUncertainMs ?? (state.ambiguous ? event.now : undefined);
  const base: Dispatched =
    lastUncertainMs === undefined ? state : { ...state, lastUncertainMs, failures };
  const next = (at: number, why: string | undefined, after: Dispatched, retryAfterMs?: number) =>
    nextMove(subject, after, at, why, policy, retryAfterMs);

  switch (event.type) {
    case "cancel":
      return refuseDispatched(subject, state.attempts);
    case "run":
      // A re-run: the last dispatched insert may or may not have reached Compute, and a worker
      // that lost its lock may still be sending it.
      return next(event.now, undefined, { ...base, ambiguous: true, lastUncertainMs: event.now });
    case "inserted":
      return accepted(subject, event.operation, event.now, policy);
    case "insertFailed": {
      const { error } = event;
      const uncertain = isAmbiguous(error);
      const after: Dispatched = {
        ...base,
        ambiguous: state.ambiguous || uncertain,
        lastError: record(error),
        failures: failures + 1,
        ...(uncertain && { lastUncertainMs: event.now }),
      };
      // The name is taken: by our own image (an earlier attempt took effect and Compute has
      // forgotten the requestId), or by someone else's. Only the image can tell.
      // The look is at once, unless calls were failing already.
      if (error.httpStatus === 409)
        return {
          lifecycle: after,
          effect: { kind: "getImage", delayMs: backoff(policy, failures) },
        };
      const what = uncertain ? "got no definite answer" : "failed";
      return next(
        event.now,
        `insert attempt ${state.attempts} ${what} (${describe(error)})`,
        after,
        error.retryAfterMs,
      );
    }
    case "imageFound": {
      const { image } = event;
      if (isOurs(image, subject.requestId, "")) {
        const following: Following = {
          phase: "following",
          computeOperation: "",
          targetId: image.id,
          by: "image",
          failures: 0,
        };
        return fromImage(subject, following, image, event.now, policy);
      }
      // Someone else's image holds the name, so no insert of ours has taken effect. One that got
      // no answer could still, were that image deleted before it lands: until the settle period
      // after it is over, this is checked again rather than believed.
      const settleEnd = lastUncertainMs === undefined ? 0 : lastUncertainMs + policy.settleMs;
      if (state.ambiguous && event.now < settleEnd) {
        // An image was found: whatever run of 404s came before is over.
        const { missingSinceMs: _streak, ...rest } = base;
        const after: Dispatched = { ...rest, failures: failures + 1 };
        const delayMs = backoff(policy, failures + 1);
        return {
          lifecycle: after,
          operation: withStatusMessage(
            subject.operation,
            `image ${subject.imageName} holds id ${image.id}, which is not from this request; an earlier attempt got no answer and could still take effect if that image goes, so this is not final before ${dateOf(settleEnd).toISOString()}; checking again in ${formatDuration(delayMs)}`,
          ),
          effect: { kind: "getImage", delayMs },
        };
      }
      const conflict =
        state.lastError?.httpStatus === 409
          ? state.lastError
          : {
              code: "RESOURCE_ALREADY_EXISTS",
              message: `The resource 'projects/${subject.operation.project}/global/images/${subject.imageName}' already exists`,
              httpStatus: 409,
            };
      return finish("rejected", failedOperation(subject.operation, conflict, dateOf(event.now)));
    }
    case "imageMissing": {
      const since = state.missingSinceMs ?? event.now;
      const after: Dispatched = { ...base, failures: failures + 1, missingSinceMs: since };
      const lasting = event.now > since ? ` for ${formatDuration(event.now - since)}` : "";
      return next(
        event.now,
        `Compute shows no image ${subject.imageName} of this request (404${lasting})`,
        after,
      );
    }
    case "imageCheckFailed": {
      const after: Dispatched = { ...base, failures: failures + 1 };
      const delayMs = backoff(policy, after.failures ?? 0, event.error.retryAfterMs);
      return {
        lifecycle: after,
        operation: withStatusMessage(
          subject.operation,
          `checking image ${subject.imageName} failed (${describe(event.error)}); whether an insert took effect is not known yet; checking again in ${formatDuration(delayMs)}`,
        ),
        effect: { kind: "getImage", delayMs },
      };
    }
    case "observed":
    case "waitFailed":
      return { lifecycle: state, effect: { kind: "none" } };
  }
}

/**
 * What to do once an insert failed or the image was not found: retry, prove, look again, or
 * conclude. `why` is what just happened, for the status message (none: publish nothing new).
 */
function nextMove(
  subject: Subject,
  state: Dispatched,
  at: number,
  why: string | undefined,
  policy: LifecyclePolicy,
  retryAfterMs?: number,
): Decision {
  const delayMs = backoff(policy, state.failures ?? 0, retryAfterMs);
  const inWindow = at - state.firstMs < policy.insertWindowMs;
  const remembered = at - state.firstMs < policy.requestIdMemoryMs;
  // Compute refused the last insert outright: sending it again would be refused again.
  const refusedOutright = state.lastError?.final === true && state.lastError.httpStatus !== 409;
  const say = (plan: string) =>
    why === undefined ? {} : { operation: withStatusMessage(subject.operation, `${why}; ${plan}`) };
  const insert = (plan: string): Decision => {
    const { missingSinceMs: _streak, ...rest } = state;
    return {
      lifecycle: { ...rest, attempts: state.attempts + 1 },
      ...say(plan),
      effect: { kind: "insert", delayMs },
    };
  };

  if (!state.ambiguous) {
    // Every attempt was answered: nothing can have taken effect unseen.
    if (refusedOutright || !inWindow) return rejected(subject, state, at, policy);
    return insert(`retrying in ${formatDuration(delayMs)}`);
  }
  if (!refusedOutright && inWindow)
    return insert(`retrying in ${formatDuration(delayMs)} with the same request id`);
  if (!refusedOutright && remembered)
    return insert(
      `the retry window is over, so asking Compute again in ${formatDuration(delayMs)} with the same request id: it answers with the original operation if an earlier attempt took effect`,
    );
  const settleEnd = (state.lastUncertainMs ?? at) + policy.settleMs;
  const missingFor = state.missingSinceMs === undefined ? -1 : at - state.missingSinceMs;
  if (at >= settleEnd && missingFor >= policy.notFoundGraceMs)
    return rejected(subject, state, at, policy);
  return {
    lifecycle: state,
    ...say(
      `an earlier attempt got no answer and may still take effect, so the image's absence proves nothing before ${dateOf(settleEnd).toISOString()} (${formatDuration(policy.settleMs)} after it); checking the image again in ${formatDuration(delayMs)}`,
    ),
    effect: { kind: "getImage", delayMs },
  };
}

/** Retries are over and no image of ours exists, nor can appear: the insert was rejected. */
function rejected(
  subject: Subject,
  state: Dispatched,
  at: number,
  policy: LifecyclePolicy,
): Decision {
  const last = state.lastError;
  const settled =
    state.ambiguous && state.lastUncertainMs !== undefined
      ? `; Compute showed no image of this request ${formatDuration(at - state.lastUncertainMs)} after the last attempt without an answer`
      : "";
  const failure: Failure =
    last === undefined
      ? {
          code: "DEADLINE_EXCEEDED",
          message: `no insert was accepted within ${formatDuration(policy.insertWindowMs)}: ${state.attempts} dispatched, none answered (the worker was stopped or died each time)${settled}`,
          httpStatus: 504,
        }
      : last.final && last.httpStatus !== 409
        ? { ...last, message: `${last.message}${settled}` }
        : {
            ...last,
            message: `gave up after ${state.attempts} attempts over ${formatDuration(at - state.firstMs)}; last error: ${last.message}${settled}`,
          };
  return finish("rejected", failedOperation(subject.operation, failure, dateOf(at)));
}

/** A cancel once an insert was dispatched: Compute may have it, and cannot cancel it. */
export function refuseDispatched(subject: Subject, attempts: number): Decision {
  return refuse(
    subject,
    `operation ${subject.operation.name} cannot be cancelled: an insert was sent to Compute ` +
      `(attempt ${attempts}), and Compute cannot cancel an image insert; ` +
      "it will be followed to DONE",
  );
}
