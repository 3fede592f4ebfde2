import type { HandlerContext } from "@connectrpc/connect";
import { abortable } from "@imagesvc/operations";
import { loadSubject, lifecyclePolicy, OperationGoneError, step } from "@imagesvc/lifecycle";
import type { CancelOperationRequest, Operation } from "@imagesvc/proto";
import { authorize, checkRead } from "./access";
import type { ImageServiceDeps } from "./deps";
import { notCancellable, notFound } from "./errors";

/** Cancel takes no timing decisions; the lifecycle's defaults are never read on this path. */
const POLICY = lifecyclePolicy();

/**
 * CancelOperation: succeeds only while no insert has been dispatched (the lifecycle's `accepted`
 * phase), because Compute cannot cancel an image insert. The cancel is one compare-and-set step
 * against the stored lifecycle, so it is atomic against a worker dispatching the insert: one of
 * the two wins, and the loser sees what the winner did. Otherwise FAILED_PRECONDITION says why.
 */
export function cancelOperation(deps: ImageServiceDeps) {
  return async (req: CancelOperationRequest, ctx: HandlerContext): Promise<Operation> => {
    checkRead(deps, req.project, req.operation, ctx);
    const caller = authorize(deps, ctx, req.project, "cancel", "cancel operations in");
    const subject = await abortable(
      loadSubject(deps.store, req.project, req.operation),
      ctx.signal,
    );
    if (subject === undefined) throw notFound(req.project, req.operation);
    let taken;
    try {
      taken = await step(
        deps.store,
        subject,
        { type: "cancel", by: caller, now: Date.now() },
        POLICY,
      );
    } catch (e) {
      if (e instanceof OperationGoneError) throw notFound(req.project, req.operation);
      throw e;
    }
    if (taken.decision.refused !== undefined) throw notCancellable(taken.decision.refused);
    // The job, if still queued, can go; if a worker holds it, it sees DONE and skips.
    await deps.queue.remove(req.operation).catch((e: unknown) => {
      deps.log.warn({ err: e, operation: req.operation }, "could not remove a cancelled job");
    });
    deps.log.info({ operation: req.operation, project: req.project }, "operation cancelled");
    return taken.subject.operation;
  };
}
