import type { HandlerContext } from "@connectrpc/connect";
import { OperationNotFoundError } from "@imagesvc/operations";
import type { Operation, WaitOperationRequest } from "@imagesvc/proto";
import { invalidArgument } from "@imagesvc/validation";
import { checkRead, find } from "./access";
import type { ImageServiceDeps } from "./deps";
import { notFound } from "./errors";

/** WaitOperation's cap, like Compute's globalOperations.wait. */
export const MAX_WAIT_MS = 120_000;

/**
 * WaitOperation: like Compute's `globalOperations.wait`, answers when the operation is DONE or
 * the timeout (at most 2 minutes) runs out, with the latest version either way.
 */
export function waitOperation(deps: ImageServiceDeps) {
  return async (req: WaitOperationRequest, ctx: HandlerContext): Promise<Operation> => {
    const release = deps.streams.acquire(checkRead(deps, req.project, req.operation, ctx));
    const requested =
      req.timeout === undefined
        ? MAX_WAIT_MS
        : Number(req.timeout.seconds) * 1000 + Math.floor(req.timeout.nanos / 1e6);
    if (requested < 0) {
      release();
      throw invalidArgument([
        {
          field: "timeout",
          description: "must not be negative; leave it unset to wait up to 2 minutes",
        },
      ]);
    }
    const waitMs = Math.min(requested, MAX_WAIT_MS);
    const stop = new AbortController();
    const timer = setTimeout(() => {
      stop.abort(new Error("wait timeout"));
    }, waitMs);
    const stream = deps.drain.join(ctx.signal);
    const signal = AbortSignal.any([stream.signal, stop.signal]);
    let latest: Operation | undefined;
    try {
      for await (const op of deps.bus.watch(req.project, req.operation, signal)) latest = op;
    } catch (e) {
      if (e instanceof OperationNotFoundError) throw notFound(req.project, req.operation);
      if (!stop.signal.aborted || stream.signal.aborted) throw e;
    } finally {
      clearTimeout(timer);
      stream.release();
      release();
    }
    return latest ?? (await find(deps, req.project, req.operation, ctx));
  };
}
