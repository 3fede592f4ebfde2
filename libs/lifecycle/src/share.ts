import type { CallFailure } from "./events";

/**
 * ShareImage's lifecycle, pure as `decide` is: add members to one role of an image's IAM policy
 * without losing anyone else's change. Compute's images.setIamPolicy replaces the whole policy
 * and refuses a stale `etag` (412), so a share is read, modify, write: the policy is read, the
 * members added to it, and written back under the etag it was read with. A 412 means another
 * change came in between: read again and start over, so that change is kept. A re-run reads
 * again too: setIamPolicy has no requestId, and a write that took effect shows in the next read
 * (the members are there, nothing to write).
 */

/** What a caller asked: `members` (IAM member strings) get `role` on `image`. */
export interface ShareRequest {
  readonly image: string;
  readonly members: readonly string[];
  readonly role: string;
}

export interface IamBinding {
  readonly role: string;
  readonly members: readonly string[];
  /** A binding's condition, kept as it is: the service never writes one. */
  readonly condition?: unknown;
}

/** An image's IAM policy as Compute's JSON has it. */
export interface IamPolicy {
  readonly version?: number;
  readonly etag: string;
  readonly bindings?: readonly IamBinding[];
}

export type ShareLifecycle =
  | { readonly phase: "accepted" }
  /** Reading the policy (again, after a 412, a failure or a re-run). */
  | { readonly phase: "reading"; readonly failures: number; readonly conflicts: number }
  /** Writing `policy`, made from the one read under its etag. */
  | {
      readonly phase: "writing";
      readonly policy: IamPolicy;
      readonly failures: number;
      readonly conflicts: number;
    }
  | {
      readonly phase: "done";
      readonly outcome: "released" | "unchanged" | "refused" | "failed" | "cancelled";
      readonly message: string;
      readonly error?: { readonly code: string; readonly httpStatus: number };
    };

export type ShareEvent =
  | { readonly type: "run" }
  | { readonly type: "policyRead"; readonly policy: IamPolicy }
  | { readonly type: "applied" }
  | { readonly type: "failed"; readonly error: CallFailure };

export type ShareEffect =
  | { readonly kind: "readPolicy"; readonly delayMs: number }
  | { readonly kind: "writePolicy"; readonly policy: IamPolicy; readonly delayMs: number }
  | { readonly kind: "none" };

export interface ShareDecision {
  readonly lifecycle: ShareLifecycle;
  readonly effect: ShareEffect;
  readonly message?: string;
}

/** A stale etag this many times in a row ends the share: something rewrites the policy non-stop. */
export const MAX_CONFLICTS = 20;

/** The policy with `members` added to `role`, or undefined when every one of them has it already. */
export function withMembers(
  policy: IamPolicy,
  role: string,
  members: readonly string[],
): IamPolicy | undefined {
  const bindings = policy.bindings ?? [];
  // Only an unconditional binding grants the role always; a conditional one is left alone.
  const at = bindings.findIndex((b) => b.role === role && b.condition === undefined);
  const held = new Set(at < 0 ? [] : (bindings[at]?.members ?? []));
  const missing = members.filter((m) => !held.has(m));
  if (missing.length === 0) return undefined;
  const binding: IamBinding = { role, members: [...held, ...missing].sort() };
  const next = at < 0 ? [...bindings, binding] : bindings.map((b, i) => (i === at ? binding : b));
  return { ...policy, bindings: next };
}

export function decideShare(
  request: ShareRequest,
  lifecycle: ShareLifecycle,
  event: ShareEvent,
  retryDelay: (n: number) => number,
): ShareDecision {
  const delay = (failures: number) => (failures <= 0 ? 0 : retryDelay(failures - 1));
  const who = request.members.join(", ");
  switch (lifecycle.phase) {
    case "done":
      return { lifecycle, effect: { kind: "none" } };
    case "accepted":
      return event.type === "run"
        ? reading(0, 0, 0, `reading the IAM policy of ${request.image}`)
        : { lifecycle, effect: { kind: "none" } };
    case "reading":
      switch (event.type) {
        case "run":
          return reading(lifecycle.failures, lifecycle.conflicts, delay(lifecycle.failures));
        case "policyRead": {
          const policy = withMembers(event.policy, request.role, request.members);
          if (policy === undefined) {
            const message = `${who} ${request.members.length === 1 ? "holds" : "hold"} ${request.role} on ${request.image}`;
            return {
              lifecycle: {
                phase: "done",
                // Already there, or there by our write before a crash: either way, as asked.
                outcome: "released",
                message,
              },
              effect: { kind: "none" },
              message,
            };
          }
          return {
            lifecycle: { phase: "writing", policy, failures: 0, conflicts: lifecycle.conflicts },
            effect: { kind: "writePolicy", policy, delayMs: 0 },
            message: `granting ${request.role} on ${request.image} to ${who}`,
          };
        }
        case "failed":
          return failed(lifecycle.failures, lifecycle.conflicts, event.error, "read");
        default:
          return { lifecycle, effect: { kind: "none" } };
      }
    case "writing":
      switch (event.type) {
        case "run":
          // The write may have taken effect before a crash: read, and write only what is missing.
          return reading(lifecycle.failures, lifecycle.conflicts, delay(lifecycle.failures));
        case "applied": {
          const message = `${who} ${request.members.length === 1 ? "holds" : "hold"} ${request.role} on ${request.image}`;
          return {
            lifecycle: { phase: "done", outcome: "released", message },
            effect: { kind: "none" },
            message,
          };
        }
        case "failed":
          if (event.error.httpStatus === 412) {
            const conflicts = lifecycle.conflicts + 1;
            if (conflicts >= MAX_CONFLICTS)
              return end(
                "failed",
                `the IAM policy of ${request.image} changed under each of ${conflicts} writes; nothing was granted`,
                { code: "CONDITION_NOT_MET", httpStatus: 412 },
              );
            return reading(
              0,
              conflicts,
              0,
              `the IAM policy of ${request.image} changed meanwhile; reading it again to keep that change`,
            );
          }
          return failed(lifecycle.failures, lifecycle.conflicts, event.error, "write");
        default:
          return { lifecycle, effect: { kind: "none" } };
      }
  }

  function reading(
    failures: number,
    conflicts: number,
    delayMs: number,
    message?: string,
  ): ShareDecision {
    return {
      lifecycle: { phase: "reading", failures, conflicts },
      effect: { kind: "readPolicy", delayMs },
      ...(message !== undefined && { message }),
    };
  }

  function end(
    outcome: "failed" | "refused",
    message: string,
    error: { code: string; httpStatus: number },
  ): ShareDecision {
    return {
      lifecycle: { phase: "done", outcome, message, error },
      effect: { kind: "none" },
      message,
    };
  }

  function failed(
    failures: number,
    conflicts: number,
    error: CallFailure,
    what: "read" | "write",
  ): ShareDecision {
    const described =
      error.httpStatus === 0 ? error.reason : `HTTP ${error.httpStatus} ${error.reason}`;
    if (error.kind === "retryable") {
      const next = failures + 1;
      const pause = Math.max(delay(next), error.retryAfterMs ?? 0);
      return reading(next, conflicts, pause, `Compute answered ${described}; retrying`);
    }
    if (error.httpStatus === 404)
      return end("refused", `image ${request.image} does not exist`, {
        code: "RESOURCE_NOT_FOUND",
        httpStatus: 404,
      });
    return end(
      "failed",
      `Compute refused to ${what} the IAM policy of ${request.image} (${described}: ${error.message}); nothing was granted`,
      { code: "COMPUTE_ERROR", httpStatus: error.httpStatus },
    );
  }
}
