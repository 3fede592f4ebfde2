import type { HandlerContext } from "@connectrpc/connect";
import { OperationNotFoundError } from "@imagesvc/operations";
import type { Operation, WatchOperationRequest } from "@imagesvc/proto";
import { checkRead } from "./access";
import type { ImageServiceDeps } from "./deps";
import { notFound } from "./errors";

/**
 * WatchOperation: the current version, then every newer one, ending after DONE (the bus
 * subscribes before it reads the snapshot). Capped per principal; ended with UNAVAILABLE when the
 * gateway drains, so clients reconnect elsewhere and resume.
 */
export function watchOperation(deps: ImageServiceDeps) {
  return async function* (
    req: WatchOperationRequest,
    ctx: HandlerContext,
  ): AsyncGenerator<Operation> {
    const release = deps.streams.acquire(checkRead(deps, req.project, req.operation, ctx));
    const stream = deps.drain.join(ctx.signal);
    try {
      yield* deps.bus.watch(req.project, req.operation, stream.signal);
    } catch (e) {
      if (e instanceof OperationNotFoundError) throw notFound(req.project, req.operation);
      throw e;
    } finally {
      stream.release();
      release();
    }
  };
}
