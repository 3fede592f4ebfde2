/** How a failed Compute call should be handled. */
export type ErrorClass = "retryable" | "refresh-credentials" | "final";

/** One entry of Compute's `error.errors[]`. */
export interface ComputeErrorItem {
  readonly domain?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly location?: string;
}

/**
 * A failed Compute call, classified once, here, by docs/design.md's rules:
 * - retryable: 429; 403 with reason `rateLimitExceeded` or `userRateLimitExceeded` (Compute's usual
 *   way of saying "quota per 100 seconds"); 500, 502, 503, 504; network errors and timeouts;
 * - refresh credentials and retry once: 401;
 * - final: everything else (400 `invalid`, 403 `forbidden`, 404, 409 `alreadyExists`, …).
 */
export class ComputeApiError extends Error {
  override readonly name = "ComputeApiError";
  /** The first `errors[].reason`, or `networkError` / `timeout` when no answer came. */
  readonly reason: string;
  readonly kind: ErrorClass;

  constructor(
    /** The HTTP status, or 0 when no answer came. */
    readonly httpStatus: number,
    reason: string,
    message: string,
    readonly errors: readonly ComputeErrorItem[] = [],
    /** From a `Retry-After` header, if Compute sent one. */
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.reason = reason;
    this.kind = classify(httpStatus, reason);
  }

  get retryable(): boolean {
    return this.kind === "retryable";
  }

  /** Builds the error from an HTTP answer, reading Compute's error body if there is one. */
  static fromResponse(
    status: number,
    bodyText: string,
    retryAfter: string | null,
  ): ComputeApiError {
    let message = `Compute answered HTTP ${status}`;
    let errors: ComputeErrorItem[] = [];
    try {
      const body = JSON.parse(bodyText) as { error?: { message?: unknown; errors?: unknown } };
      if (typeof body.error?.message === "string") message = body.error.message;
      if (Array.isArray(body.error?.errors)) errors = body.error.errors as ComputeErrorItem[];
    } catch {
      if (bodyText.trim() !== "") message = `${message}: ${bodyText.trim().slice(0, 200)}`;
    }
    const reason = errors[0]?.reason ?? `http${status}`;
    return new ComputeApiError(status, reason, message, errors, parseRetryAfter(retryAfter));
  }

  /** A call that got no answer: the connection failed, was reset, or timed out. */
  static noAnswer(reason: "networkError" | "timeout", cause: unknown): ComputeApiError {
    const detail =
      cause instanceof Error
        ? cause.cause instanceof Error
          ? cause.cause.message
          : cause.message
        : String(cause);
    return new ComputeApiError(
      0,
      reason,
      `no answer from Compute (${reason}): ${detail}`,
      [],
      undefined,
      { cause },
    );
  }
}

const RATE_LIMIT_REASONS = new Set(["rateLimitExceeded", "userRateLimitExceeded"]);
const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504]);

/** The one place that decides what a Compute failure means. */
export function classify(httpStatus: number, reason: string): ErrorClass {
  if (httpStatus === 0) return "retryable";
  if (httpStatus === 401) return "refresh-credentials";
  if (RETRYABLE_STATUSES.has(httpStatus)) return "retryable";
  if (httpStatus === 403 && RATE_LIMIT_REASONS.has(reason)) return "retryable";
  return "final";
}

function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
