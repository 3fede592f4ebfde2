import { Operation_Status, type Operation } from "@imagesvc/proto";
import type { CallFailure, ImageSeen, LifecycleEvent } from "./events";
import type { CallFailureRecord, Dispatched, Following, Lifecycle, Outcome } from "./lifecycle";
import {
  applyComputeOperation,
  failedOperation,
  failureOf,
  formatDuration,
  succeededOperation,
  withStatusMessage,
} from "./operation-versions";
import { isOurs } from "./ownership";
import type { LifecyclePolicy } from "./policy";

/** One operation as the lifecycle sees it. */
export interface Subject {
  readonly lifecycle: Lifecycle;
  /** The latest version of our operation record. */
  readonly operation: Operation;
  /** Compute's requestId for this operation: the same on every insert. */
  readonly requestId: string;
  /** The image's name, for messages. */
  readonly imageName: string;
}

/**
 * What the driver does next. `delayMs` is a pause before the call (backoff, or the minimum
 * interval between waits).
 * - `insert`: `images.insert` with the requestId (the dispatch is already committed);
 * - `wait`: `globalOperations.wait` on the lifecycle's Compute operation;
 * - `getImage`: `images.get` on the image name, to settle what an ambiguous answer left open;
 * - `none`: nothing: the operation is DONE, or the event was refused.
 */
export type Effect =
  | { readonly kind: "insert" | "wait" | "getImage"; readonly delayMs: number }
  | { readonly kind: "none" };

export interface Decision {
  readonly lifecycle: Lifecycle;
  /** The next version of the operation, when the step changes what callers see. */
  readonly operation?: Operation;
  readonly effect: Effect;
  /** Set when the event is not allowed in this state (a cancel after dispatch): why, for the caller. */
  readonly refused?: string;
}

const NONE: Effect = { kind: "none" };
const now = (ms: number) => new Date(ms);

/**
 * The operation lifecycle as one pure function: the next state, the version to publish and the
 * effect to perform, from the current state and one event. Drivers (the gateway's cancel, the
 * worker's job loop) load the state, ask, commit the answer atomically (compare-and-set on the
 * lifecycle's sequence number) and only then perform the effect. The rules it keeps:
 * - DONE without error ⇔ exactly one image exists for the request (or will be READY).
 * - CANCELLED ⇒ no insert was ever sent: cancel succeeds only in `accepted`.
 * - Nothing ends while Compute is still working: once accepted, an insert is followed to its end;
 *   anything ambiguous (a 409, a vanished operation, retries that ran out after a lost answer) is
 *   settled by looking at the image.
 * - DONE is final.
 */
export function decide(subject: Subject, event: LifecycleEvent, policy: LifecyclePolicy): Decision {
  const { lifecycle } = subject;
  switch (lifecycle.phase) {
    case "done":
      // Cancel is idempotent: a cancelled operation cancelled again (a retry after a lost
      // answer) is answered with itself; any other DONE operation cannot be.
      return event.type === "cancel" && lifecycle.outcome !== "cancelled"
        ? refuse(subject, `operation ${subject.operation.name} is already DONE`)
        : { lifecycle, effect: NONE };
    case "accepted":
      return fromAccepted(subject, event);
    case "dispatched":
      return fromDispatched(subject, lifecycle, event, policy);
    case "following":
      return fromFollowing(subject, lifecycle, event, policy);
  }
}

function fromAccepted(subject: Subject, event: LifecycleEvent): Decision {
  switch (event.type) {
    case "cancel":
      return finish(
        subject,
        "cancelled",
        failedOperation(
          subject.operation,
          {
            code: "CANCELLED",
            message: `cancelled by ${event.by}; no insert was sent to Compute`,
          },
          now(event.now),
        ),
      );
    case "run":
      return {
        lifecycle: { phase: "dispatched", attempts: 1, firstMs: event.now, ambiguous: false },
        effect: { kind: "insert", delayMs: 0 },
      };
    default:
      // Answers to effects only come after a dispatch; nothing to act on.
      return { lifecycle: subject.lifecycle, effect: NONE };
  }
}

function fromDispatched(
  subject: Subject,
  state: Dispatched,
  event: LifecycleEvent,
  policy: LifecyclePolicy,
): Decision {
  const windowLeft = (at: number) => at - state.firstMs < policy.insertWindowMs;
  /** Dispatches one more insert, after `delayMs`. */
  const insertAgain = (
    delayMs: number,
    changes: Partial<Dispatched> = {},
    operation?: Operation,
  ): Decision => ({
    lifecycle: { ...state, ...changes, attempts: state.attempts + 1 },
    ...(operation && { operation }),
    effect: { kind: "insert", delayMs },
  });
  /** Retries are over and no image of ours exists: the insert was rejected. */
  const rejected = (at: number, last: CallFailureRecord | undefined): Decision => {
    const failure =
      last === undefined
        ? {
            code: "DEADLINE_EXCEEDED",
            message: `no insert was accepted within ${formatDuration(policy.insertWindowMs)}: ${state.attempts} dispatched, none answered (the worker was stopped or died each time), and Compute has no image of this request`,
            httpStatus: 504,
          }
        : last.final
          ? last
          : {
              ...last,
              message: `gave up after ${state.attempts} attempts over ${formatDuration(at - state.firstMs)}; last error: ${last.message}`,
            };
    return finish(subject, "rejected", failedOperation(subject.operation, failure, now(at)));
  };

  switch (event.type) {
    case "cancel":
      return refuse(
        subject,
        `operation ${subject.operation.name} cannot be cancelled: an insert was sent to Compute ` +
          `(attempt ${state.attempts}), and Compute cannot cancel an image insert; ` +
          "it will be followed to DONE",
      );
    case "run":
      // A re-run: the last dispatched insert may or may not have reached Compute.
      if (windowLeft(event.now)) return insertAgain(0, { ambiguous: true });
      return { lifecycle: { ...state, ambiguous: true }, effect: { kind: "getImage", delayMs: 0 } };
    case "inserted":
      return accepted(subject, event.operation, event.now, policy);
    case "insertFailed": {
      const { error } = event;
      const last = record(error);
      const ambiguous = state.ambiguous || isAmbiguous(error);
      if (error.httpStatus === 409) {
        // The name is taken: by our own image (an earlier attempt took effect and Compute has
        // forgotten the requestId), or by someone else's. Only the image can tell.
        return {
          lifecycle: { ...state, ambiguous, lastError: last },
          effect: { kind: "getImage", delayMs: 0 },
        };
      }
      if (last.final) {
        if (!ambiguous) return rejected(event.now, last);
        return {
          lifecycle: { ...state, ambiguous, lastError: last },
          effect: { kind: "getImage", delayMs: 0 },
        };
      }
      if (!windowLeft(event.now)) {
        if (!ambiguous) return rejected(event.now, last);
        return {
          lifecycle: { ...state, ambiguous, lastError: last },
          effect: { kind: "getImage", delayMs: 0 },
        };
      }
      const delayMs = Math.max(policy.retryDelay(state.attempts - 1), error.retryAfterMs ?? 0);
      return insertAgain(
        delayMs,
        { ambiguous, lastError: last },
        withStatusMessage(
          subject.operation,
          `insert attempt ${state.attempts} failed (${describe(error)}); retrying in ${formatDuration(delayMs)}`,
        ),
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
      const conflict =
        state.lastError?.httpStatus === 409
          ? state.lastError
          : {
              code: "RESOURCE_ALREADY_EXISTS",
              message: `The resource 'projects/${subject.operation.project}/global/images/${subject.imageName}' already exists`,
              httpStatus: 409,
            };
      return finish(
        subject,
        "rejected",
        failedOperation(subject.operation, conflict, now(event.now)),
      );
    }
    case "imageMissing":
      // No image of ours: nothing took effect. A final error stands; otherwise retry while the
      // window lasts (a 409 whose image has vanished since), then give up.
      if (state.lastError?.final === true && state.lastError.httpStatus !== 409)
        return rejected(event.now, state.lastError);
      if (windowLeft(event.now)) return insertAgain(policy.retryDelay(0));
      return rejected(event.now, state.lastError);
    case "imageCheckFailed": {
      const failures = state.attempts;
      return {
        lifecycle: state,
        operation: withStatusMessage(
          subject.operation,
          `checking image ${subject.imageName} failed (${describe(event.error)}); retrying`,
        ),
        effect: {
          kind: "getImage",
          delayMs: Math.max(policy.retryDelay(failures - 1), event.error.retryAfterMs ?? 0),
        },
      };
    }
    case "observed":
    case "waitFailed":
      return { lifecycle: state, effect: NONE };
  }
}

function fromFollowing(
  subject: Subject,
  state: Following,
  event: LifecycleEvent,
  policy: LifecyclePolicy,
): Decision {
  const resume: Effect =
    state.by === "operation" ? { kind: "wait", delayMs: 0 } : { kind: "getImage", delayMs: 0 };
  /** Compute did not answer usefully: keep the status, say so, and try again with backoff. */
  const unreachable = (error: CallFailure, at: number, effect: "wait" | "getImage"): Decision => {
    const since = state.unreachableSinceMs ?? at;
    const message =
      error.kind === "retryable"
        ? `Compute unreachable for ${formatDuration(at - since)} (${describe(error)}); still following`
        : `Compute refuses to report the operation for ${formatDuration(at - since)} (${describe(error)}); still following`;
    const delayMs = Math.max(policy.retryDelay(state.failures), error.retryAfterMs ?? 0);
    return {
      lifecycle: { ...state, failures: state.failures + 1, unreachableSinceMs: since },
      ...(message !== subject.operation.statusMessage && {
        operation: withStatusMessage(subject.operation, message),
      }),
      effect: { kind: effect, delayMs },
    };
  };

  switch (event.type) {
    case "cancel":
      return refuse(
        subject,
        `operation ${subject.operation.name} cannot be cancelled: Compute accepted the insert ` +
          `(operation ${state.computeOperation || "unknown"}) and cannot cancel it; ` +
          "it will be followed to DONE",
      );
    case "run":
      // A re-run resumes by reference: it never inserts again.
      return { lifecycle: state, effect: resume };
    case "inserted":
      return { lifecycle: state, effect: resume };
    case "insertFailed":
      return { lifecycle: state, effect: resume };
    case "observed": {
      const { operation: compute } = event;
      const next = applyComputeOperation(subject.operation, compute);
      const following: Following = {
        phase: "following",
        computeOperation: state.computeOperation,
        targetId: compute.targetId !== "" ? compute.targetId : state.targetId,
        by: "operation",
        failures: 0,
      };
      if (compute.status === Operation_Status.DONE)
        return finish(subject, compute.error === undefined ? "succeeded" : "failed", next);
      return {
        lifecycle: following,
        operation: next,
        effect: {
          kind: "wait",
          delayMs: Math.max(0, policy.minWaitIntervalMs - event.elapsedMs),
        },
      };
    }
    case "waitFailed":
      if (event.error.httpStatus === 404) {
        // The operation is gone (Compute's retention, or a deletion): the image tells the rest.
        return {
          lifecycle: { ...state, by: "image", failures: 0 },
          effect: { kind: "getImage", delayMs: 0 },
        };
      }
      return unreachable(event.error, event.now, "wait");
    case "imageFound":
      if (!isOurs(event.image, subject.requestId, state.targetId)) {
        return gone(
          subject,
          `image ${subject.imageName} (id ${state.targetId || "unknown"}) that this operation created no longer exists; an image of that name with id ${event.image.id} is not from this request`,
          event.now,
        );
      }
      return fromImage(subject, state, event.image, event.now, policy);
    case "imageMissing":
      return gone(
        subject,
        `Compute's operation ${state.computeOperation || "(unknown)"} is gone and image ${subject.imageName} does not exist`,
        event.now,
      );
    case "imageCheckFailed":
      return unreachable(event.error, event.now, "getImage");
  }
}

/** Compute accepted the insert: follow its operation (or finish, if it answered DONE). */
function accepted(
  subject: Subject,
  compute: Operation,
  at: number,
  policy: LifecyclePolicy,
): Decision {
  const following: Following = {
    phase: "following",
    computeOperation: compute.name,
    targetId: compute.targetId,
    by: "operation",
    failures: 0,
  };
  return fromFollowing(
    subject,
    following,
    { type: "observed", operation: compute, elapsedMs: policy.minWaitIntervalMs, now: at },
    policy,
  );
}

/** Reports from the image itself: READY is success, FAILED failure, PENDING keeps polling. */
function fromImage(
  subject: Subject,
  state: Following,
  image: ImageSeen,
  at: number,
  policy: LifecyclePolicy,
): Decision {
  switch (image.status) {
    case "READY":
      return finish(subject, "succeeded", succeededOperation(subject.operation, image.id, now(at)));
    case "FAILED":
    case "DELETING":
      return finish(
        subject,
        "failed",
        failedOperation(
          subject.operation,
          {
            code: image.status === "FAILED" ? "IMAGE_FAILED" : "RESOURCE_NOT_FOUND",
            message:
              image.status === "FAILED"
                ? `Compute marked image ${subject.imageName} FAILED; its operation is gone, so Compute's own error is not known`
                : `image ${subject.imageName} is being deleted`,
          },
          now(at),
        ),
      );
    default: {
      const lifecycle: Following = {
        ...state,
        targetId: image.id,
        by: "image",
        failures: 0,
      };
      const operation = withStatusMessage(
        subject.operation,
        `image ${subject.imageName} is ${image.status || "PENDING"}; following the image`,
      );
      operation.status = Operation_Status.RUNNING;
      operation.targetId = image.id;
      return {
        lifecycle,
        ...(!sameVisible(operation, subject.operation) && { operation }),
        effect: { kind: "getImage", delayMs: policy.imagePollMs },
      };
    }
  }
}

function finish(subject: Subject, outcome: Outcome, operation: Operation): Decision {
  return { lifecycle: { phase: "done", outcome }, operation, effect: NONE };
}

/** Compute accepted the insert, but the image it made is not there (any more): failed, 404. */
function gone(subject: Subject, message: string, at: number): Decision {
  return finish(
    subject,
    "failed",
    failedOperation(
      subject.operation,
      { code: "RESOURCE_NOT_FOUND", message, httpStatus: 404 },
      now(at),
    ),
  );
}

function refuse(subject: Subject, why: string): Decision {
  return { lifecycle: subject.lifecycle, effect: NONE, refused: why };
}

function sameVisible(a: Operation, b: Operation): boolean {
  return a.status === b.status && a.statusMessage === b.statusMessage && a.targetId === b.targetId;
}

/** No answer or a server error: Compute may have acted on the call. */
function isAmbiguous(error: CallFailure): boolean {
  return error.httpStatus === 0 || error.httpStatus >= 500;
}

function record(error: CallFailure): CallFailureRecord {
  return { ...failureOf(error), final: error.kind !== "retryable" };
}

function describe(error: CallFailure): string {
  return error.httpStatus === 0 ? error.reason : `HTTP ${error.httpStatus} ${error.reason}`;
}
