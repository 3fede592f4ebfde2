import type { HandlerContext } from "@connectrpc/connect";
import { abortable } from "@imagesvc/operations";
import type { Operation } from "@imagesvc/proto";
import { checkProjectId, invalidArgument, type FieldViolation } from "@imagesvc/validation";
import { PRINCIPAL } from "../auth/principal";
import { OPERATION_NAME } from "@imagesvc/operations";
import type { ImageServiceDeps } from "./deps";
import { notFound, permissionDenied, unauthenticated } from "./errors";

/** The authenticated caller (the request gate put it there). */
export function callerOf(ctx: HandlerContext): string {
  const principal = ctx.values.get(PRINCIPAL);
  if (principal === undefined) throw unauthenticated();
  return principal.name;
}

/** Checks that the caller may do `action` in `project`; PERMISSION_DENIED otherwise. */
export function authorize(
  deps: ImageServiceDeps,
  ctx: HandlerContext,
  project: string,
  action: "create" | "read" | "cancel" | "release",
  verb: string,
): string {
  const caller = callerOf(ctx);
  if (!deps.policy.allows(caller, project, action)) throw permissionDenied(caller, verb, project);
  return caller;
}

/**
 * Checks a read of one operation. A project the caller may not read answers NOT_FOUND, like an
 * operation that does not exist: existence does not leak across projects.
 */
export function checkRead(
  deps: ImageServiceDeps,
  project: string,
  name: string,
  ctx: HandlerContext,
): string {
  checkAddress(project, name);
  const caller = callerOf(ctx);
  if (!deps.policy.allows(caller, project, "read")) throw notFound(project, name);
  return caller;
}

/** A record of `project` or NOT_FOUND; another project's operation is simply not there. */
export async function find(
  deps: ImageServiceDeps,
  project: string,
  name: string,
  ctx: HandlerContext,
): Promise<Operation> {
  checkRead(deps, project, name, ctx);
  const op = await abortable(deps.store.get(project, name), ctx.signal);
  if (op === undefined) throw notFound(project, name);
  return op;
}

/**
 * Rejects a malformed project or a missing operation name before any Redis call. A name this
 * gateway could never have issued is NOT_FOUND at once, as an unknown one would be.
 */
export function checkAddress(project: string, operation: string): void {
  const violations: FieldViolation[] = [];
  const problem = checkProjectId(project);
  if (problem !== undefined) violations.push({ field: "project", description: problem });
  if (operation === "")
    violations.push({
      field: "operation",
      description: "is required: the name CreateImage returned",
    });
  if (violations.length > 0) throw invalidArgument(violations);
  if (!OPERATION_NAME.test(operation)) throw notFound(project, operation);
}
