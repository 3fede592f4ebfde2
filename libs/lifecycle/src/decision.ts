import type { Operation } from "@imagesvc/proto";
import type { CallFailure } from "./events";
import type { CallFailureRecord, Lifecycle, Outcome } from "./lifecycle";
import { failureOf } from "./operation-versions";
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

export const NONE: Effect = { kind: "none" };

export const dateOf = (ms: number) => new Date(ms);

export function finish(outcome: Outcome, operation: Operation): Decision {
  return { lifecycle: { phase: "done", outcome }, operation, effect: NONE };
}

export function refuse(subject: Subject, why: string): Decision {
  return { lifecycle: subject.lifecycle, effect: NONE, refused: why };
}

/**
 * The pause before the next call after `failures` failed calls in a row: the policy's backoff,
 * which grows to a cap, or Compute's Retry-After when that is longer. No failures, no pause.
 */
export function backoff(policy: LifecyclePolicy, failures: number, retryAfterMs?: number): number {
  if (failures <= 0) return 0;
  return Math.max(policy.retryDelay(failures - 1), retryAfterMs ?? 0);
}

/** No answer or a server error: Compute may have acted on the call. */
export function isAmbiguous(error: CallFailure): boolean {
  return error.httpStatus === 0 || error.httpStatus >= 500;
}

export function record(error: CallFailure): CallFailureRecord {
  return { ...failureOf(error), final: error.kind !== "retryable" };
}

/** A failed call, for a status message: "HTTP 503 backendError", "timeout". */
export function describe(error: CallFailure): string {
  return error.httpStatus === 0 ? error.reason : `HTTP ${error.httpStatus} ${error.reason}`;
}
