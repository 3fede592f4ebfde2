import { dateOf, finish, NONE, refuse, type Decision, type Subject } from "./decision";
import { fromDispatched, refuseDispatched } from "./dispatched";
import type { LifecycleEvent } from "./events";
import { fromFollowing, refuseFollowing } from "./following";
import { failedOperation } from "./operation-versions";
import type { LifecyclePolicy } from "./policy";

export type { Decision, Effect, Subject } from "./decision";

/**
 * The operation lifecycle as one pure function: the next state, the version to publish and the
 * effect to perform, from the current state and one event. Drivers (the gateway's cancel, the
 * worker's job loop) load the state, ask, commit the answer atomically (compare-and-set on the
 * lifecycle's sequence number) and only then perform the effect. The rules it keeps:
 * - DONE without error ⇔ exactly one image exists for the request (or will be READY).
 * - DONE with an error ⇒ no image of the request exists and none will appear, or Compute's own
 *   operation failed. An outcome that is not known is never reported as known: the operation
 *   stays open, and its status message says what is uncertain.
 * - CANCELLED ⇒ no insert was ever sent: cancel succeeds only in `accepted`.
 * - Nothing ends while Compute is still working: once accepted, an insert is followed to its end;
 *   anything ambiguous (a 409, a vanished operation, an insert without an answer) is settled by
 *   a same-requestId insert or by the image, and no single 404 settles anything.
 * - Every retry backs off to a cap, counting its failures in the state.
 * - DONE is final.
 */
export function decide(subject: Subject, event: LifecycleEvent, policy: LifecyclePolicy): Decision {
  if (event.type === "cancel") return decideCancel(subject, event.by, event.now);
  const { lifecycle } = subject;
  switch (lifecycle.phase) {
    case "done":
      return { lifecycle, effect: NONE };
    case "accepted":
      return fromAccepted(subject, event);
    case "dispatched":
      return fromDispatched(subject, lifecycle, event, policy);
    case "following":
      return fromFollowing(subject, lifecycle, event, policy);
  }
}

/**
 * A caller's cancel, decided without any timing policy (the gateway has none): it succeeds only
 * while no insert was dispatched, and a cancelled operation cancelled again answers with itself.
 */
export function decideCancel(subject: Subject, by: string, now: number): Decision {
  const { lifecycle } = subject;
  switch (lifecycle.phase) {
    case "accepted":
      return fromAccepted(subject, { type: "cancel", by, now });
    case "done":
      // Cancel is idempotent: a cancelled operation cancelled again (a retry after a lost
      // answer) is answered with itself; any other DONE operation cannot be.
      return lifecycle.outcome === "cancelled"
        ? { lifecycle, effect: NONE }
        : refuse(subject, `operation ${subject.operation.name} is already DONE`);
    case "dispatched":
      return refuseDispatched(subject, lifecycle.attempts);
    case "following":
      return refuseFollowing(subject, lifecycle.computeOperation);
  }
}

/** `accepted`: recorded, no insert sent. Only here can a cancel succeed. */
function fromAccepted(subject: Subject, event: LifecycleEvent): Decision {
  switch (event.type) {
    case "cancel":
      return finish(
        "cancelled",
        failedOperation(
          subject.operation,
          {
            code: "CANCELLED",
            message: `cancelled by ${event.by}; no insert was sent to Compute`,
          },
          dateOf(event.now),
        ),
      );
    case "run":
      return {
        lifecycle: {
          phase: "dispatched",
          attempts: 1,
          firstMs: event.now,
          ambiguous: false,
          failures: 0,
        },
        effect: { kind: "insert", delayMs: 0 },
      };
    default:
      // Answers to effects only come after a dispatch; nothing to act on.
      return { lifecycle: subject.lifecycle, effect: NONE };
  }
}
