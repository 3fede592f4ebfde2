/** Exponential backoff with jitter. */
export interface BackoffOptions {
  /** The first delay's ceiling, in ms. Default: 500. */
  readonly initialMs?: number;
  /** The largest delay, in ms. Default: 30000. */
  readonly maxMs?: number;
  /** Source of randomness in [0, 1). Default: Math.random. */
  readonly random?: () => number;
}

/**
 * The delay before retry number `attempt` (0-based): between half and all of
 * min(maxMs, initialMs · 2^attempt). The random half spreads retries of many clients apart; the
 * fixed half keeps a retry from coming back at once.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const { initialMs = 500, maxMs = 30_000, random = Math.random } = options;
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. No pause (`ms`
 * ≤ 0) resolves at once, without a timer: `setTimeout(0)` waits a millisecond or more, which a
 * job paid before each call it makes without delay.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    if (ms <= 0) {
      resolve();
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
