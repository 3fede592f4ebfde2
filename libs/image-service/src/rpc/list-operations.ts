import type { HandlerContext } from "@connectrpc/connect";
import { abortable } from "@imagesvc/operations";
import {
  Operation_Status,
  type ListOperationsRequest,
  type ListOperationsResponseSchema,
} from "@imagesvc/proto";
import { checkProjectId, invalidArgument, type FieldViolation } from "@imagesvc/validation";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { authorize } from "./access";
import type { ImageServiceDeps } from "./deps";

/** ListOperations: a project's operations, newest first, a page at a time, by status if asked. */
export function listOperations(deps: ImageServiceDeps) {
  return async (
    req: ListOperationsRequest,
    ctx: HandlerContext,
  ): Promise<MessageInitShape<typeof ListOperationsResponseSchema>> => {
    const violations: FieldViolation[] = [];
    const projectProblem = checkProjectId(req.project);
    if (projectProblem !== undefined)
      violations.push({ field: "project", description: projectProblem });
    if (req.maxResults > 500)
      violations.push({
        field: "max_results",
        description: `is ${req.maxResults}; use 1-500, or 0 for 500`,
      });
    if (
      req.pageToken !== "" &&
      !/^\d{13}:operation-/.test(Buffer.from(req.pageToken, "base64url").toString())
    ) {
      violations.push({
        field: "page_token",
        description:
          "is not a token this service issued; pass next_page_token from the previous page",
      });
    }
    if (violations.length > 0) throw invalidArgument(violations);
    authorize(deps, ctx, req.project, "read", "read");
    const page = await abortable(
      deps.store.list(req.project, {
        ...(req.status !== Operation_Status.STATUS_UNSPECIFIED && { status: req.status }),
        maxResults: req.maxResults,
        pageToken: req.pageToken,
      }),
      ctx.signal,
    );
    return { items: page.items, nextPageToken: page.nextPageToken };
  };
}
