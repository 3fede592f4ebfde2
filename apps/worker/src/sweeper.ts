import { failedOperation, type OperationStore } from "@imagesvc/operations";
import { Operation_Status } from "@imagesvc/proto";
import type { ImageQueue } from "@imagesvc/queue";
import type { Logger } from "pino";

export interface SweeperOptions {
  readonly store: OperationStore;
  readonly queue: ImageQueue;
  readonly log: Logger;
  /** How often to sweep, in ms. */
  readonly intervalMs: number;
  /** Operations younger than this are left alone: their job may still be on its way, in ms. */
  readonly graceMs: number;
}

export interface SweepResult {
  readonly requeued: number;
  readonly finalized: number;
}

/**
 * Keeps DESIGN invariant 3: no operation stays PENDING or RUNNING forever. It looks at every
 * operation not DONE and older than the grace period, and at its job:
 * - no job (a gateway died between writing the record and queueing it, or Redis lost the job):
 *   queue the stored job again; the insert's requestId makes that safe;
 * - a failed job (stalled too often, or failed after its last attempt without finishing the
 *   record): finalize the operation DONE with the error.
 * Several workers may sweep at once: queueing is idempotent by job id and records only move forward.
 */
export function startSweeper(options: SweeperOptions) {
  const { store, queue, log } = options;

  async function sweepOnce(): Promise<SweepResult> {
    let requeued = 0;
    let finalized = 0;
    const before = Date.now() - options.graceMs;
    for (const project of await store.projects()) {
      for (const status of [Operation_Status.PENDING, Operation_Status.RUNNING]) {
        for (const name of await store.olderThan(project, status, before, 500)) {
          const state = await queue.queue.getJobState(name);
          if (state !== "unknown" && state !== "failed" && state !== "completed") continue;
          const stored = await store.getStored(project, name);
          if (stored === undefined || stored.operation.status === Operation_Status.DONE) continue;
          if (state === "unknown" && stored.job !== "") {
            await queue.add(JSON.parse(stored.job) as never);
            requeued += 1;
            log.warn({ operation: name, project }, "its job was missing; queued it again");
            continue;
          }
          const job = state === "unknown" ? undefined : await queue.queue.getJob(name);
          const reason = job?.failedReason ?? `the job is ${state}`;
          await store.update(
            failedOperation(stored.operation, {
              code: "JOB_FAILED",
              message: `the worker could not finish the operation: ${reason}`,
              httpStatus: 500,
            }),
          );
          finalized += 1;
          log.warn(
            { operation: name, project, state },
            "finalized an operation whose job ended without finishing it",
          );
        }
      }
    }
    return { requeued, finalized };
  }

  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = sweepOnce().catch((e: unknown) => {
      log.error({ err: e }, "sweep failed");
    });
  }, options.intervalMs);
  timer.unref();

  return {
    sweepOnce,
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
