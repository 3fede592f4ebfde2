import { clone, create } from "@bufbuild/protobuf";
import {
  Operation_ErrorSchema,
  Operation_Status,
  OperationSchema,
  type Operation,
} from "@imagesvc/proto";
import { STATUS_CODES } from "node:http";

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
