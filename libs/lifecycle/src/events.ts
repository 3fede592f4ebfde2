import type { Operation } from "@imagesvc/proto";

/**
 * A failed Compute call, as the lifecycle needs it. `ComputeApiError` (libs/compute) has this
 * shape; `kind` is its one classification: retryable (429, 403 rate limits, 5xx, no answer),
 * refresh-credentials (a 401 that survived the client's one refresh) or final.
 */
export interface CallFailure {
  /** The HTTP status, or 0 when no answer came. */
  readonly httpStatus: number;
  readonly reason: string;
  readonly message: string;
  readonly kind: "retryable" | "refresh-credentials" | "final";
  /** From a `Retry-After` header, if Compute sent one. */
  readonly retryAfterMs?: number | undefined;
}

/** An image as `images.get` returned it: the fields the lifecycle reads. */
export interface ImageSeen {
  readonly id: string;
  /** PENDING, READY, FAILED or DELETING. */
  readonly status: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * What happened to an operation: a request from a caller, a worker taking its job, or the
 * answer to an effect the lifecycle asked for. `now` is ms since epoch.
 */
export type LifecycleEvent =
  /** A caller asks to cancel. */
  | { readonly type: "cancel"; readonly by: string; readonly now: number }
  /** A worker takes the job: a first run, or a re-run after a crash, stall, retry or hand-back. */
  | { readonly type: "run"; readonly now: number }
  /** `images.insert` answered with Compute's operation. */
  | { readonly type: "inserted"; readonly operation: Operation; readonly now: number }
  /** `images.insert` failed. */
  | { readonly type: "insertFailed"; readonly error: CallFailure; readonly now: number }
  /** `wait` answered, `elapsedMs` after it was sent. */
  | {
      readonly type: "observed";
      readonly operation: Operation;
      readonly elapsedMs: number;
      readonly now: number;
    }
  /** `wait` failed. */
  | { readonly type: "waitFailed"; readonly error: CallFailure; readonly now: number }
  /** `images.get` found the image. */
  | { readonly type: "imageFound"; readonly image: ImageSeen; readonly now: number }
  /** `images.get` answered 404. */
  | { readonly type: "imageMissing"; readonly now: number }
  /** `images.get` failed otherwise. */
  | { readonly type: "imageCheckFailed"; readonly error: CallFailure; readonly now: number };
