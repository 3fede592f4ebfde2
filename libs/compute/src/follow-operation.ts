import { equals } from "@bufbuild/protobuf";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import { backoffDelay, sleep, type BackoffOptions } from "@imagesvc/runtime";
import { ComputeApiError } from "./compute-api-error";
import type { ComputeClient } from "./compute-client";

export interface FollowOptions {
  /** Called with each state that differs from the last one seen (starting from `initial`). */
  readonly onUpdate?: (operation: Operation) => void | Promise<void>;
  /** Aborting it stops the follow at once; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Extra headers on every `wait` call, e.g. the W3C `traceparent`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The state already known (e.g. insert's answer), so that it is not reported again. */
  readonly initial?: Operation;
  /** Delays between retries of transient failures. Default: 500 ms doubling to 30 s, with jitter. */
  readonly backoff?: BackoffOptions;
  /** Transient failures in a row before giving up with the last one. Default: 20. */
  readonly maxConsecutiveErrors?: number;
  /**
   * For how long after the follow starts a 404 on the operation counts as "not visible yet"
   * rather than final, in ms; Terraform treats it the same way. Default: 60000.
   */
  readonly notFoundGraceMs?: number;
}

/**
 * Follows a Compute operation to DONE by looping on `globalOperations.wait`, which blocks up to
 * about two minutes: fewer calls than polling `get`. Compute's wait is best effort and may return
 * early, even at once; the loop simply waits again. Transient failures (see ComputeApiError) are
 * retried with backoff and jitter; final ones reject. Resolves with the DONE operation, whether it
 * succeeded or carries `error`.
 */
export async function followOperation(
  client: ComputeClient,
  project: string,
  name: string,
  options: FollowOptions = {},
): Promise<Operation> {
  const {
    onUpdate,
    signal,
    backoff,
    maxConsecutiveErrors = 20,
    notFoundGraceMs = 60_000,
  } = options;
  // DONE is final: an insert that answered DONE needs no wait.
  if (options.initial?.status === Operation_Status.DONE) return options.initial;
  const started = Date.now();
  let last = options.initial;
  let failures = 0;
  for (;;) {
    signal?.throwIfAborted();
    let current: Operation;
    try {
      current = await client.waitOperation(project, name, {
        ...(signal && { signal }),
        ...(options.headers && { headers: options.headers }),
      });
    } catch (e) {
      if (!(e instanceof ComputeApiError)) throw e;
      const freshNotFound = e.httpStatus === 404 && Date.now() - started < notFoundGraceMs;
      if (!(e.retryable || freshNotFound) || failures + 1 >= maxConsecutiveErrors) throw e;
      await sleep(Math.max(backoffDelay(failures, backoff), e.retryAfterMs ?? 0), signal);
      failures += 1;
      continue;
    }
    failures = 0;
    if (last === undefined || !equals(OperationSchema, last, current)) {
      last = current;
      await onUpdate?.(current);
    }
    if (current.status === Operation_Status.DONE) return current;
  }
}
