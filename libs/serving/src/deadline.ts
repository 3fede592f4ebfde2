import {
  Code,
  ConnectError,
  createContextKey,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";

/**
 * A call's deadline as its HandlerContext knows it (`grpc-timeout`, or `connect-timeout-ms`).
 * connect gives the request gate the HandlerContext but gives interceptors only the request's
 * context values, so the context is put there (`rememberDeadline`) for the pieces that come
 * later: the deadline interceptor and connect-node's body reader (connect-handler.ts).
 */
type Deadline = Pick<HandlerContext, "signal" | "timeoutMs">;

const deadlineKey = createContextKey<Deadline | undefined>(undefined, {
  description: "@imagesvc/serving: the call's deadline",
});

/** Makes the call's deadline known to the deadline interceptor and the body reader. */
export function rememberDeadline(ctx: HandlerContext): void {
  ctx.values.set(deadlineKey, ctx);
}

/** The call's deadline, or undefined when it has none (or it is not known yet). */
export function deadlineOf(values: ContextValues): Deadline | undefined {
  const deadline = values.get(deadlineKey);
  return deadline?.timeoutMs() === undefined ? undefined : deadline;
}

/**
 * DEADLINE_EXCEEDED once the deadline has passed, else undefined. The clock is read as well as
 * the signal: connect's deadline is a timer, which may not have fired yet when the answer is
 * ready a moment after the deadline.
 */
function exceeded(deadline: Deadline): ConnectError | undefined {
  const reason: unknown = deadline.signal.reason;
  if (reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) return reason;
  if ((deadline.timeoutMs() ?? 1) <= 0)
    return new ConnectError("the operation timed out", Code.DeadlineExceeded);
  return undefined;
}

/**
 * `work`, or the signal's reason as a ConnectError as soon as it aborts, whichever comes first.
 * `work` itself goes on (a promise cannot be stopped); its outcome is then dropped, and a
 * rejection of it does not go unhandled.
 */
async function untilAborted<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  const { promise: aborted, reject } = Promise.withResolvers<never>();
  const onAbort = () => {
    reject(ConnectError.from(signal.reason));
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** `work`, cut short by the call's deadline (or its end) if it has one. */
export function untilDeadline<T>(values: ContextValues, work: Promise<T>): Promise<T> {
  const deadline = deadlineOf(values);
  return deadline === undefined ? work : untilAborted(deadline.signal, work);
}

/**
 * `work`, cut short by the deadline of the call whose context this is, if it has one; `work`
 * itself (not even wrapped in a promise) when it has none, so that a call without a deadline
 * pays nothing for the check.
 */
export function untilContextDeadline<T>(ctx: HandlerContext, work: T | Promise<T>): T | Promise<T> {
  return ctx.timeoutMs() === undefined ? work : untilAborted(ctx.signal, Promise.resolve(work));
}

/**
 * Answers DEADLINE_EXCEEDED, never OK, when the implementation finishes after the call's
 * deadline. connect aborts the context's signal at the deadline, but then sends whatever the
 * implementation returns, however late; a client that still waits would take that late answer
 * for a success, and metrics would count it as one. A unary answer is checked when it is ready;
 * a server stream on each message and at its end, and a message made after the deadline stops
 * the stream (its `return()` lets the implementation clean up). Calls without a deadline pass
 * untouched, at no cost per message.
 *
 * Both serving paths add it as their innermost interceptor, so the interceptors around it (the
 * metrics, the error edge) see the code the client gets.
 */
export const deadlineInterceptor: Interceptor = (next) => (req) => {
  const deadline = deadlineOf(req.contextValues);
  return deadline === undefined ? next(req) : answerByDeadline(next, req, deadline);
};

async function answerByDeadline(
  next: (req: UnaryRequest | StreamRequest) => Promise<UnaryResponse | StreamResponse>,
  req: UnaryRequest | StreamRequest,
  deadline: Deadline,
): Promise<UnaryResponse | StreamResponse> {
  const res = await next(req);
  if (!res.stream) {
    const error = exceeded(deadline);
    if (error !== undefined) throw error;
    return res;
  }
  return { ...res, message: endAtDeadline(res.message, deadline) };
}

/** The messages, ending with DEADLINE_EXCEEDED instead of any message or end after `deadline`. */
function endAtDeadline<T>(messages: AsyncIterable<T>, deadline: Deadline): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = messages[Symbol.asyncIterator]();
      return {
        async next() {
          const result = await it.next();
          const error = exceeded(deadline);
          if (error === undefined) return result;
          if (result.done !== true) await it.return?.();
          throw error;
        },
        async return(value?: unknown) {
          return it.return === undefined
            ? { done: true as const, value: value as T }
            : it.return(value);
        },
      };
    },
  };
}
