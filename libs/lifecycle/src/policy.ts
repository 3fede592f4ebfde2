/**
 * The timing rules of the lifecycle. The worker builds one from its settings (libs/config holds
 * their defaults: JOB_MAX_RETRY_MS, REQUEST_ID_MEMORY_MS, INSERT_SETTLE_MS, NOT_FOUND_GRACE_MS,
 * WAIT_MIN_INTERVAL_MS, IMAGE_POLL_MS); tests compress them. Every field is in ms.
 */
export interface LifecyclePolicy {
  /**
   * How long after the first insert was dispatched inserts are retried. It bounds only getting an
   * insert accepted: once Compute has accepted it, the operation is followed to its end however
   * long that takes.
   */
  readonly insertWindowMs: number;
  /**
   * How long Compute remembers a requestId, counted from the first dispatch. Within it, an insert
   * whose answer never came is settled by another insert with the same requestId: Compute answers
   * with the original operation if the first took effect. Compute documents no figure; other
   * Google APIs promise at least 60 minutes. A figure longer than Compute's real memory costs
   * nothing: the proof insert then meets a 409 for our own image, which the image's identity
   * settles.
   */
  readonly requestIdMemoryMs: number;
  /**
   * How long after an insert that got no answer (or a worker that may still be sending one) a
   * request Compute accepted must have become visible. Past the requestId memory, only the
   * image's identity settles an unanswered insert, and a 404 proves nothing until this long after
   * the last unanswered attempt. It must exceed the insert call's timeout plus Compute's
   * visibility lag.
   */
  readonly settleMs: number;
  /**
   * How long 404s must persist before they count: a 404 from `wait`, `globalOperations.get` or
   * `images.get` right after a write may only mean "not visible yet" (Terraform treats a fresh
   * 404 on an operation the same way). No single read ends an operation.
   */
  readonly notFoundGraceMs: number;
  /**
   * The delay before retry number `n` (0-based) of a failed call. The worker passes its jittered
   * exponential backoff, capped.
   */
  readonly retryDelay: (n: number) => number;
  /**
   * A `wait` that returns sooner than this without DONE is followed by a pause for the rest, so
   * a best-effort wait that answers at once cannot make the worker spin.
   */
  readonly minWaitIntervalMs: number;
  /** How often the image is polled once its Compute operation is gone. */
  readonly imagePollMs: number;
}
