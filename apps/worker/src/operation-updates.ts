import { clone } from "@bufbuild/protobuf";
import type { ComputeApiError } from "@imagesvc/compute";
import type { Failure } from "@imagesvc/operations";
import {
  Operation_ErrorSchema,
  Operation_WarningSchema,
  OperationSchema,
  type Operation,
} from "@imagesvc/proto";

/**
 * The next version of our operation after Compute reported `compute`: Compute's progress, timing,
 * error and warning fields, its ids and its selfLink (as `compute_operation`). Our own identity
 * (name, project, user, client_operation_id, insert_time) stays. Status and progress never go
 * down, whatever order reports arrive in.
 */
export function applyComputeOperation(current: Operation, compute: Operation): Operation {
  const next = clone(OperationSchema, current);
  next.id = compute.id;
  if (compute.targetId !== "") next.targetId = compute.targetId;
  if (compute.targetLink !== "") next.targetLink = compute.targetLink;
  next.status = compute.status > current.status ? compute.status : current.status;
  next.progress = Math.max(current.progress, compute.progress);
  next.statusMessage = compute.statusMessage;
  next.startTime = compute.startTime;
  next.endTime = compute.endTime;
  next.warnings = compute.warnings.map((w) => clone(Operation_WarningSchema, w));
  next.error =
    compute.error === undefined ? undefined : clone(Operation_ErrorSchema, compute.error);
  next.httpErrorStatusCode = compute.httpErrorStatusCode;
  next.httpErrorMessage = compute.httpErrorMessage;
  next.computeOperation = compute.selfLink;
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

/** A Compute API error as the failure of an operation: Compute's code, message and status. */
export function failureOf(error: ComputeApiError): Failure & { readonly httpStatus: number } {
  const code =
    CODES[error.reason] ?? error.reason.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  // No answer at all reads as 503, the status Compute gives for "try again later".
  return {
    code,
    message: error.message,
    httpStatus: error.httpStatus === 0 ? 503 : error.httpStatus,
  };
}
