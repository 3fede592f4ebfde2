import type { Client } from "@connectrpc/connect";
import { Operation_Status, type ImageService, type Operation } from "@imagesvc/proto";
import { isTransient } from "./exit-codes";
import { backoffDelay, sleep } from "@imagesvc/runtime";

export interface WatchOptions {
  /** Called with each new version. */
  readonly onUpdate: (op: Operation) => void;
  /** Called before each reconnect, with the error that ended the stream. */
  readonly onReconnect?: (attempt: number, error: unknown) => void;
  /** Reconnects in a row before giving up. Default: 8. */
  readonly maxReconnects?: number;
  /**
   * The operation as already known (CreateImage's answer): shown first, and the stream then
   * shows only later versions, so the first line is what was accepted however fast a worker is.
   */
  readonly from?: Operation;
}

/**
 * Follows an operation to DONE. A lost stream (the gateway restarted or drained) reconnects with
 * backoff and resumes: WatchOperation sends the current snapshot first, and versions already
 * shown are skipped, so the caller sees each version once, in order.
 */
export async function watchToDone(
  client: Client<typeof ImageService>,
  project: string,
  operation: string,
  options: WatchOptions,
): Promise<Operation> {
  let last: Operation | undefined = options.from;
  if (last !== undefined) options.onUpdate(last);
  let failures = 0;
  for (;;) {
    try {
      for await (const op of client.watchOperation({ project, operation })) {
        failures = 0;
        if (last !== undefined && op.version <= last.version) continue;
        last = op;
        options.onUpdate(op);
      }
      if (last?.status === Operation_Status.DONE) return last;
      throw new Error("the stream ended before DONE");
    } catch (e) {
      if (!isTransient(e) || failures >= (options.maxReconnects ?? 8)) throw e;
      failures += 1;
      options.onReconnect?.(failures, e);
      await sleep(backoffDelay(failures, { initialMs: 200, maxMs: 5000 }));
    }
  }
}
