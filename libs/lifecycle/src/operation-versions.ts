import { clone, create } from "@bufbuild/protobuf";
import {
  Operation_ErrorSchema,
  Operation_Status,
  Operation_WarningSchema,
  OperationSchema,
  type Operation,
  type Operation_Warning,
} from "@imagesvc/proto";
import { STATUS_CODES } from "node:http";
import type { CallFailure } from "./events";

/**
 * The versions of our operation that the lifecycle writes. Each takes the current version and
 * returns the next one; none mutates its input.
 */

/** What ended an operation without Compute saying DONE. */
export interface Failure {
  /** Compute-style code for `error.errors[].code`, e.g. RESOURCE_ALREADY_EXISTS or CANCELLED. */
  readonly code: string;
  readonly message: string;
  /** The HTTP status to report as Compute's `httpErrorStatusCode`; omit for none. */
  readonly httpStatus?: number;
  /** The request field at fault, if known. */
  readonly location?: string;
}

/**
 * The final version of an operation that ended before Compute finished it: DONE, with the error in
 * Compute's own shape (`error.errors[]`, `http_error_status_code`, `http_error_message`).
 */
export function failedOperation(current: Operation, failure: Failure, now = new Date()): Operation {
  const next = clone(OperationSchema, current);
  next.status = Operation_Status.DONE;
  next.progress = Math.max(next.progress, 100);
  next.statusMessage = "";
  next.endTime = now.toISOString();
  next.error = create(Operation_ErrorSchema, {
    errors: [{ code: failure.code, message: failure.message, location: failure.location ?? "" }],
  });
  if (failure.httpStatus !== undefined) {
    next.httpErrorStatusCode = failure.httpStatus;
    next.httpErrorMessage = (STATUS_CODES[failure.httpStatus] ?? "ERROR").toUpperCase();
  }
  return next;
}

/**
 * Marks the warnings our pre-flight put on an operation (in their `data`): Compute's own warnings
 * replace each other, never these.
 */
export const PREFLIGHT_WARNING_DATA = { key: "source", value: "preflight" } as const;
/** Marks the warning that names the promotion a CreateImage recorded (RELEASE_MODE_PROMOTE_WHEN_READY). */
export const RELEASE_WARNING_DATA = { key: "source", value: "release" } as const;

/** Our own warnings (the pre-flight's, the release's): Compute's replace each other, never these. */
const isOurWarning = (w: Operation_Warning) =>
  w.data.some(
    (d) =>
      d.key === PREFLIGHT_WARNING_DATA.key &&
      (d.value === PREFLIGHT_WARNING_DATA.value || d.value === RELEASE_WARNING_DATA.value),
  );

/**
 * The next version after Compute reported `compute`: Compute's progress, timing, error and warning
 * fields, its ids and its selfLink (as `compute_operation`). Our own identity (name, project,
 * user, client_operation_id, insert_time, and target_link: one operation has one link, whatever
 * host Compute, or an emulator, writes in its own) stays. Status and progress never go down, whatever
 * order reports arrive in.
 */
export function applyComputeOperation(current: Operation, compute: Operation): Operation {
  const next = clone(OperationSchema, current);
  next.id = compute.id;
  if (compute.targetId !== "") next.targetId = compute.targetId;
  next.status = compute.status > current.status ? compute.status : current.status;
  next.progress = Math.max(current.progress, compute.progress);
  next.statusMessage = compute.statusMessage;
  next.startTime = compute.startTime;
  next.endTime = compute.endTime;
  next.warnings = [
    ...current.warnings.filter(isOurWarning).map((w) => clone(Operation_WarningSchema, w)),
    ...compute.warnings.map((w) => clone(Operation_WarningSchema, w)),
  ];
  next.error =
    compute.error === undefined ? undefined : clone(Operation_ErrorSchema, compute.error);
  next.httpErrorStatusCode = compute.httpErrorStatusCode;
  next.httpErrorMessage = compute.httpErrorMessage;
  if (compute.selfLink !== "") next.computeOperation = compute.selfLink;
  return next;
}

/** The final version when the image itself (its operation gone) says READY. */
export function succeededOperation(current: Operation, imageId: string, now: Date): Operation {
  const next = clone(OperationSchema, current);
  next.status = Operation_Status.DONE;
  next.progress = 100;
  next.statusMessage = "";
  next.targetId = imageId;
  next.endTime = now.toISOString();
  return next;
}

/** The same version with another `status_message` (Compute's field for human-readable state). */
export function withStatusMessage(current: Operation, message: string): Operation {
  const next = clone(OperationSchema, current);
  next.statusMessage = message;
  return next;
}

/** Compute's operation error codes for the reasons its synchronous errors carry. */
const CODES: Record<string, string> = {
  alreadyExists: "RESOURCE_ALREADY_EXISTS",
  notFound: "RESOURCE_NOT_FOUND",
  invalid: "INVALID_FIELD_VALUE",
  required: "REQUIRED_FIELD_MISSING",
  forbidden: "PERMISSION_DENIED",
  quotaExceeded: "QUOTA_EXCEEDED",
  rateLimitExceeded: "RATE_LIMIT_EXCEEDED",
  userRateLimitExceeded: "RATE_LIMIT_EXCEEDED",
  resourceNotReady: "RESOURCE_NOT_READY",
  conditionNotMet: "CONDITION_NOT_MET",
  backendError: "BACKEND_ERROR",
  networkError: "UNAVAILABLE",
  timeout: "DEADLINE_EXCEEDED",
  authError: "UNAUTHENTICATED",
};

/** A failed Compute call as the failure of an operation: Compute's code, message and status. */
export function failureOf(error: CallFailure): Failure & { readonly httpStatus: number } {
  const code =
    CODES[error.reason] ?? error.reason.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  // No answer at all reads as 503, the status Compute gives for "try again later".
  return {
    code,
    message: error.message,
    httpStatus: error.httpStatus === 0 ? 503 : error.httpStatus,
  };
}

/** "45 s", "4 m", "3 h": how long, for a status message. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} m` : `${Math.round(m / 60)} h`;
}
