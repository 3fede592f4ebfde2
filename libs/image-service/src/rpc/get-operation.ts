import type { HandlerContext } from "@connectrpc/connect";
import type { GetOperationRequest, Operation } from "@imagesvc/proto";
import { find } from "./access";
import type { ImageServiceDeps } from "./deps";

/** GetOperation: the latest version, or NOT_FOUND (also for a project the caller may not read). */
export function getOperation(deps: ImageServiceDeps) {
  return (req: GetOperationRequest, ctx: HandlerContext): Promise<Operation> =>
    find(deps, req.project, req.operation, ctx);
}
