/**
 * The timing rules of the lifecycle. The worker builds one from its settings; tests compress them.
 * Every field is in ms.
 */
export interface LifecyclePolicy {
  /**
   * How long after the first insert was dispatched inserts are retried. It bounds only getting an
   * insert accepted: once Compute has accepted it, the operation is followed to its end however
   * long that takes. Default: 30 minutes.
   */
  readonly insertWindowMs: number;
  /**
   * How long Compute remembers a requestId, counted from the first dispatch. Within it, an insert
   * whose answer never came is settled by another insert with the same requestId: Compute answers
   * with the original operation if the first took effect. Compute documents no figure; other
   * Google APIs promise at least 60 minutes. A figure longer than Compute's real memory costs
   * nothing: the proof insert then meets a 409 for our own image, which the image's identity
   * settles. Default: 60 minutes.
   */
  readonly requestIdMemoryMs: number;
  /**
   * How long after an insert that got no answer (or a worker that may still be sending one) a
   * request Compute accepted must have become visible. Past the requestId memory, only the
   * image's identity settles an unanswered insert, and a 404 proves nothing until this long after
   * the last unanswered attempt. It must exceed the insert call's timeout plus Compute's
   * visibility lag. Default: 5 minutes.
   */
  readonly settleMs: number;
  /**
   * How long 404s must persist before they count: a 404 from `wait`, `globalOperations.get` or
   * `images.get` right after a write may only mean "not visible yet" (Terraform treats a fresh
   * 404 on an operation the same way). No single read ends an operation. Default: 60 seconds.
   */
  readonly notFoundGraceMs: number;
  /**
   * The delay before retry number `n` (0-based) of a failed call. The worker passes libs/compute's
   * jittered exponential backoff, capped. Default: 500 ms doubling to 30 s, without jitter.
   */
  readonly retryDelay: (n: number) => number;
  /**
   * A `wait` that returns sooner than this without DONE is followed by a pause for the rest, so
   * a best-effort wait that answers at once cannot make the worker spin. Default: 1000.
   */
  readonly minWaitIntervalMs: number;
  /** How often the image is polled once its Compute operation is gone. Default: 10000. */
  readonly imagePollMs: number;
}

/** The defaults of every timing rule, in one place: the worker's settings read them. */
export const LIFECYCLE_DEFAULTS = {
  insertWindowMs: 30 * 60_000,
  requestIdMemoryMs: 60 * 60_000,
  settleMs: 5 * 60_000,
  notFoundGraceMs: 60_000,
  minWaitIntervalMs: 1000,
  imagePollMs: 10_000,
} as const;

/** A policy with every unset field at its default. */
export function lifecyclePolicy(overrides: Partial<LifecyclePolicy> = {}): LifecyclePolicy {
  return {
    ...LIFECYCLE_DEFAULTS,
    retryDelay: (n) => Math.min(30_000, 500 * 2 ** Math.min(n, 30)),
    ...definedOnly(overrides),
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
