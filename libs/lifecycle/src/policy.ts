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
   * The delay before retry number `n` (0-based) of a failed call. The worker passes libs/compute's
   * jittered exponential backoff. Default: 500 ms doubling to 30 s, without jitter.
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

export const LIFECYCLE_DEFAULTS = {
  insertWindowMs: 30 * 60_000,
  minWaitIntervalMs: 1000,
  imagePollMs: 10_000,
} as const;

/** A policy with every unset field at its default. */
export function lifecyclePolicy(overrides: Partial<LifecyclePolicy> = {}): LifecyclePolicy {
  return {
    insertWindowMs: overrides.insertWindowMs ?? LIFECYCLE_DEFAULTS.insertWindowMs,
    retryDelay: overrides.retryDelay ?? ((n) => Math.min(30_000, 500 * 2 ** Math.min(n, 30))),
    minWaitIntervalMs: overrides.minWaitIntervalMs ?? LIFECYCLE_DEFAULTS.minWaitIntervalMs,
    imagePollMs: overrides.imagePollMs ?? LIFECYCLE_DEFAULTS.imagePollMs,
  };
}
