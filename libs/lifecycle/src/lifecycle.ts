import type { Failure } from "./operation-versions";

/**
 * Where one operation stands, from the service's side. The phases only move forward:
 *
 *   accepted ──▶ dispatched ──▶ following ──▶ done
 *       │             │                        ▲
 *       └─ cancel ────┼────────────────────────┤ (cancelled)
 *                     └─ final error / no image ┘ (rejected)
 *
 * - `accepted`: the gateway recorded the operation; no insert has been sent. Only here can a
 *   cancel succeed, because only here is it certain that Compute has heard nothing.
 * - `dispatched`: an insert was (or is about to be) sent, `attempts` times so far, the first at
 *   `firstMs`. Compute may or may not have acted on it: `ambiguous` says whether some attempt got
 *   no definite answer (no answer, a 5xx, a worker that stopped mid-call), so that an image may
 *   exist, or appear later, without our knowing. Such an outcome is settled, never guessed: by a
 *   same-requestId insert while Compute remembers the requestId, else by the image's identity
 *   once `settleMs` has passed since `lastUncertainMs`.
 * - `following`: Compute accepted the insert. From here the operation ends only when Compute
 *   says so, however long that takes: by its operation (`wait`), or once that operation is gone,
 *   by the image itself (`images.get`).
 * - `done`: final, with the outcome that the operation's DONE version reports.
 */
export type Lifecycle = Accepted | Dispatched | Following | Done;

export interface Accepted {
  readonly phase: "accepted";
}

export interface Dispatched {
  readonly phase: "dispatched";
  /** Inserts dispatched so far (each committed before it is sent). */
  readonly attempts: number;
  /** When the first insert was dispatched, ms since epoch: the retry window counts from here. */
  readonly firstMs: number;
  /** Some attempt got no definite answer, so Compute may have created the image. */
  readonly ambiguous: boolean;
  /** The last insert's error, if any; a final one other than a conflict ends the operation. */
  readonly lastError?: CallFailureRecord;
  /**
   * When the last attempt without a definite answer ended (or a re-run found one possibly still in
   * flight), ms since epoch: a 404 for the image proves nothing until `settleMs` after it.
   */
  readonly lastUncertainMs?: number;
  /** Failed calls in a row in this phase (inserts and image checks alike); sets the backoff. */
  readonly failures?: number;
  /** Since when `images.get` has answered 404 without a break, ms since epoch. */
  readonly missingSinceMs?: number;
}

export interface Following {
  readonly phase: "following";
  /** Compute's operation name (not its URL). */
  readonly computeOperation: string;
  /** The image's id as Compute reported it; "" until known. It proves an image is ours. */
  readonly targetId: string;
  /** How the operation is followed: its Compute operation, or (once that is gone) the image. */
  readonly by: "operation" | "image";
  /** Failed calls in a row while following; sets the backoff. */
  readonly failures: number;
  /** Since when Compute has not answered, ms since epoch; unset while it answers. */
  readonly unreachableSinceMs?: number;
  /**
   * Since when the operation and the image have answered 404 (or the name has held an image that
   * is not ours) without a break, ms since epoch: only past the not-found grace does it count.
   */
  readonly missingSinceMs?: number;
}

export interface Done {
  readonly phase: "done";
  readonly outcome: Outcome;
}

/**
 * How an operation ended:
 * - `succeeded`: exactly one image exists for the request, READY;
 * - `failed`: Compute accepted the insert and its operation (or image) failed, or the image it
 *   created is gone;
 * - `cancelled`: no insert was ever sent;
 * - `rejected`: Compute refused the insert, or retries ran out, and no image of ours exists.
 */
export type Outcome = "succeeded" | "failed" | "cancelled" | "rejected";

/** A failed call as the lifecycle keeps it: what to report, and whether it was final. */
export interface CallFailureRecord extends Failure {
  readonly httpStatus: number;
  readonly final: boolean;
}

export const ACCEPTED: Accepted = { phase: "accepted" };

/** The stored form of a lifecycle (a hash field of the operation record). */
export function encodeLifecycle(lifecycle: Lifecycle): string {
  return JSON.stringify(lifecycle);
}

/**
 * Reads a stored lifecycle. A record written before lifecycles existed has none: if it is DONE
 * it is done; if it names a Compute operation it is followed; otherwise an insert may have been
 * sent, so it is dispatched and ambiguous (never cancellable, reconciled by the image).
 */
export function decodeLifecycle(
  stored: string | undefined,
  legacy: { readonly done: boolean; readonly computeOperation: string; readonly createdMs: number },
): Lifecycle {
  if (stored !== undefined && stored !== "") {
    const parsed = JSON.parse(stored) as Lifecycle;
    if (isLifecycle(parsed)) return parsed;
    throw new Error(`unreadable lifecycle state: ${stored.slice(0, 200)}`);
  }
  if (legacy.done) return { phase: "done", outcome: "failed" };
  if (legacy.computeOperation !== "") {
    return {
      phase: "following",
      computeOperation: legacy.computeOperation.slice(legacy.computeOperation.lastIndexOf("/") + 1),
      targetId: "",
      by: "operation",
      failures: 0,
    };
  }
  return { phase: "dispatched", attempts: 1, firstMs: legacy.createdMs, ambiguous: true };
}

function isLifecycle(value: unknown): value is Lifecycle {
  if (typeof value !== "object" || value === null) return false;
  const phase = (value as { phase?: unknown }).phase;
  return (
    phase === "accepted" || phase === "dispatched" || phase === "following" || phase === "done"
  );
}
