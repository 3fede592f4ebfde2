import { Code, ConnectError } from "@connectrpc/connect";
import { PreconditionFailureSchema } from "@imagesvc/proto";
import type { WriteRefusal } from "@imagesvc/redis";

/**
 * The ImageService's errors at the RPC edge, built in one place so that every RPC says the same
 * thing the same way. INVALID_ARGUMENT comes from libs/validation's `invalidArgument`.
 */

/** An unknown operation, or one of a project the caller may not read: existence does not leak. */
export function notFound(project: string, name: string): ConnectError {
  return new ConnectError(`operation ${name} not found in project ${project}`, Code.NotFound);
}

export function permissionDenied(caller: string, action: string, project: string): ConnectError {
  return new ConnectError(`${caller} may not ${action} project ${project}`, Code.PermissionDenied);
}

export function unauthenticated(): ConnectError {
  return new ConnectError("not authenticated", Code.Unauthenticated);
}

/** A request id reused for a different request. */
export function requestIdReused(requestId: string, existing: string): ConnectError {
  return new ConnectError(
    `request_id ${requestId} was already used for a different request (operation ${existing}); ` +
      "repeat the original request exactly, or send a new request_id",
    Code.AlreadyExists,
  );
}

/** A cancel the lifecycle refused; `why` says what state the operation is in. */
export function notCancellable(why: string): ConnectError {
  return new ConnectError(why, Code.FailedPrecondition);
}

/** A request that names projects or buckets its caller may not use; nothing was stored. */
export function resourcesDenied(caller: string, refused: readonly string[]): ConnectError {
  return new ConnectError(
    `${caller} may not use what this request names: ${refused.join("; ")}`,
    Code.PermissionDenied,
  );
}

/** A customer-supplied key, on a gateway that has no key to seal it with. */
export function cannotKeepRawKey(fields: readonly string[]): ConnectError {
  return new ConnectError(
    `${fields.join(", ")}: this service stores customer-supplied keys only sealed, ` +
      "and it has no SECRETS_KEY_FILE to seal them with; encrypt with kms_key_name instead, " +
      "or ask its operators to set SECRETS_KEY_FILE",
    Code.FailedPrecondition,
  );
}

/** A raw disk source that failed its pre-flight; nothing was stored or inserted. */
export function rawDiskRefused(
  source: string,
  failure: {
    readonly code: string;
    readonly check: string;
    readonly found: string;
    readonly fix: string;
  },
): ConnectError {
  return new ConnectError(
    `image.raw_disk.source failed the pre-flight check "${failure.check}": ${failure.found}. Fix: ${failure.fix}`,
    Code.FailedPrecondition,
    undefined,
    [
      {
        desc: PreconditionFailureSchema,
        value: {
          violations: [
            {
              type: failure.code,
              subject: source,
              description: `${failure.check}: ${failure.found}. Fix: ${failure.fix}`,
            },
          ],
        },
      },
    ],
  );
}

const REFUSALS: Record<WriteRefusal, string> = {
  OOM: "is out of memory (Redis refused the write: maxmemory reached under noeviction)",
  READONLY: "is read-only (Redis answered as a replica: a failover may be in progress)",
  MISCONF: "refuses writes (Redis cannot save to disk: MISCONF)",
};

/**
 * Redis refused a write: retryable, and the cause named for the caller and the operator. A retry
 * with the same request_id is safe: it answers with the operation if one was recorded, and
 * finishes queueing it if the refusal came in between.
 */
export function storageRefused(refusal: WriteRefusal): ConnectError {
  return new ConnectError(
    `the service's storage ${REFUSALS[refusal]}; retry shortly with the same request_id`,
    Code.Unavailable,
  );
}

/** Redis did not answer (down, restarting, or too slow): retryable. */
export function storageUnavailable(): ConnectError {
  return new ConnectError("the service's storage is unavailable; retry shortly", Code.Unavailable);
}
