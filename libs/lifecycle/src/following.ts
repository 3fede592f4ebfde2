import { Operation_Status, type Operation } from "@imagesvc/proto";
import {
  backoff,
  dateOf,
  describe,
  finish,
  refuse,
  type Decision,
  type Effect,
  type Subject,
} from "./decision";
import type { CallFailure, ImageSeen, LifecycleEvent } from "./events";
import type { Following } from "./lifecycle";
import {
  applyComputeOperation,
  failedOperation,
  formatDuration,
  succeededOperation,
  withStatusMessage,
} from "./operation-versions";
import { isOurs } from "./ownership";
import type { LifecyclePolicy } from "./policy";

/**
 * `following`: Compute accepted the insert. Nothing ends the operation but Compute's own verdict
 * (its operation DONE, or the image READY or FAILED) or our image missing for longer than the
 * not-found grace. While Compute does not answer, the status stays and the message says so.
 */
export function fromFollowing(
  subject: Subject,
  state: Following,
  event: LifecycleEvent,
  policy: LifecyclePolicy,
): Decision {
  // A re-run, or a late insert answer, goes on at the pace the failures so far set: a worker
  // restarted while Compute fails calls it no faster than the one before did.
  const resumeDelayMs = state.failures > 0 ? backoff(policy, state.failures) : 0;
  const resume: Effect = {
    kind: state.by === "operation" ? "wait" : "getImage",
    delayMs: resumeDelayMs,
  };
  /** Compute did not answer usefully: keep the status, say so, and try again with backoff. */
  const unreachable = (error: CallFailure, at: number, effect: "wait" | "getImage"): Decision => {
    const since = state.unreachableSinceMs ?? at;
    const message =
      error.kind === "retryable"
        ? `Compute unreachable for ${formatDuration(at - since)} (${describe(error)}); still following`
        : `Compute refuses to report the operation for ${formatDuration(at - since)} (${describe(error)}); still following`;
    const failures = state.failures + 1;
    return {
      lifecycle: { ...state, failures, unreachableSinceMs: since },
      ...(message !== subject.operation.statusMessage && {
        operation: withStatusMessage(subject.operation, message),
      }),
      effect: { kind: effect, delayMs: backoff(policy, failures, error.retryAfterMs) },
    };
  };
  /**
   * Our image is not there (a 404, or the name holds someone else's image). Right after a write
   * that may only mean "not visible yet", so only a run of misses lasting the grace counts; until
   * then the operation asks again with backoff, its Compute operation first while it has one.
   */
  const missing = (at: number, what: string, verdict: string): Decision => {
    const since = state.missingSinceMs ?? at;
    if (at - since >= policy.notFoundGraceMs) return gone(subject, verdict, at);
    const failures = state.failures + 1;
    const delayMs = backoff(policy, failures);
    const askOperation = state.by === "operation" && state.computeOperation !== "";
    return {
      lifecycle: { ...state, failures, missingSinceMs: since },
      operation: withStatusMessage(
        subject.operation,
        `${what} for ${formatDuration(at - since)}; an accepted insert can take a while to become visible, so this proves nothing before ${formatDuration(policy.notFoundGraceMs)}; checking again in ${formatDuration(delayMs)}`,
      ),
      effect: { kind: askOperation ? "wait" : "getImage", delayMs },
    };
  };

  switch (event.type) {
    case "cancel":
      return refuseFollowing(subject, state.computeOperation);
    case "run":
      // A re-run resumes by reference: it never inserts again.
      return { lifecycle: state, effect: resume };
    case "inserted":
    case "insertFailed":
      // A late answer to an insert (a worker that lost its lock): the operation is known already.
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
        return finish(compute.error === undefined ? "succeeded" : "failed", next);
      return {
        lifecycle: following,
        operation: next,
        effect: {
          kind: "wait",
          delayMs: Math.max(0, policy.minWaitIntervalMs - event.elapsedMs),
        },
      };
    }
    case "waitFailed": {
      if (event.error.httpStatus !== 404) return unreachable(event.error, event.now, "wait");
      // The operation is gone (Compute's retention, a deletion) or not visible yet: the image
      // tells. The first look is at once unless calls were failing already; looks during a run
      // of misses back off.
      const first = state.missingSinceMs === undefined;
      const failures = first ? state.failures : state.failures + 1;
      return {
        lifecycle: { ...state, failures, missingSinceMs: state.missingSinceMs ?? event.now },
        effect: { kind: "getImage", delayMs: backoff(policy, failures) },
      };
    }
    case "imageFound":
      if (!isOurs(event.image, subject.requestId, state.targetId)) {
        return missing(
          event.now,
          `image ${subject.imageName} holds id ${event.image.id}, which is not from this request`,
          `image ${subject.imageName} (id ${state.targetId || "unknown"}) that this operation created no longer exists; an image of that name with id ${event.image.id} is not from this request`,
        );
      }
      return fromImage(subject, state, event.image, event.now, policy);
    case "imageMissing":
      return missing(
        event.now,
        state.computeOperation === ""
          ? `image ${subject.imageName} answers 404`
          : `Compute's operation ${state.computeOperation} and image ${subject.imageName} answer 404`,
        `Compute's operation ${state.computeOperation || "(unknown)"} is gone and image ${subject.imageName} does not exist`,
      );
    case "imageCheckFailed":
      return unreachable(event.error, event.now, "getImage");
  }
}

/** Compute accepted the insert: follow its operation (or finish, if it answered DONE). */
export function accepted(
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
export function fromImage(
  subject: Subject,
  state: Following,
  image: ImageSeen,
  at: number,
  policy: LifecyclePolicy,
): Decision {
  switch (image.status) {
    case "READY":
      return finish("succeeded", succeededOperation(subject.operation, image.id, dateOf(at)));
    case "FAILED":
    case "DELETING":
      return finish(
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
          dateOf(at),
        ),
      );
    default: {
      // Found: whatever was missing or unreachable before is over.
      const lifecycle: Following = {
        phase: "following",
        computeOperation: state.computeOperation,
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

/** Compute accepted the insert, but the image it made is not there (any more): failed, 404. */
function gone(subject: Subject, message: string, at: number): Decision {
  return finish(
    "failed",
    failedOperation(
      subject.operation,
      { code: "RESOURCE_NOT_FOUND", message, httpStatus: 404 },
      dateOf(at),
    ),
  );
}

function sameVisible(a: Operation, b: Operation): boolean {
  return a.status === b.status && a.statusMessage === b.statusMessage && a.targetId === b.targetId;
}

/** A cancel once Compute accepted the insert: it cannot be cancelled, only followed. */
export function refuseFollowing(subject: Subject, computeOperation: string): Decision {
  return refuse(
    subject,
    `operation ${subject.operation.name} cannot be cancelled: Compute accepted the insert ` +
      `(operation ${computeOperation || "unknown"}) and cannot cancel it; ` +
      "it will be followed to DONE",
  );
}
