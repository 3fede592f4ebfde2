import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ComputeApiError, type BackoffOptions, type ComputeClient } from "@imagesvc/compute";
import { failedOperation, type Failure, type OperationStore } from "@imagesvc/operations";
import { ImageSchema, Operation_Status, type Operation } from "@imagesvc/proto";
import { InvalidJobError, parseCreateImageJob, type CreateImageJob } from "@imagesvc/queue";
import { SpanKind, startStep } from "@imagesvc/telemetry";
import { DelayedError, UnrecoverableError, type Job } from "bullmq";
import type { Logger } from "pino";
import { applyComputeOperation, failureOf } from "./operation-updates";

export interface ProcessJobDeps {
  readonly store: OperationStore;
  readonly compute: ComputeClient;
  readonly log: Logger;
  /** Retries stop this long after the gateway accepted the request, in ms. */
  readonly maxRetryMs: number;
  /** Backoff between retries of `wait` inside one attempt. */
  readonly followBackoff?: BackoffOptions;
  /** Aborted when this worker shuts down: every job in flight, and any taken after, is handed back. */
  readonly stopping: AbortSignal;
  /** Told how each job attempt ended, for metrics. */
  readonly onOutcome?: (outcome: JobOutcome) => void;
}

/** How a job attempt ended. */
export type JobOutcome = "done" | "failed" | "retried" | "gave_up" | "handed_back" | "skipped";

/** A handed-back job waits this long before it can be taken again, so a closing worker cannot spin on it. */
const HAND_BACK_DELAY_MS = 500;

/**
 * One job: take it → call Compute's images.insert with the job's requestId → follow the
 * operation to DONE → publish every change as a new version of our record.
 *
 * The requestId is the same on every attempt, so a re-run (after a crash, a stall, a retry or a
 * shutdown hand-back) gets Compute's original operation back instead of a second image.
 */
export function createJobProcessor(deps: ProcessJobDeps) {
  return async (job: Job, token?: string, bullSignal?: AbortSignal): Promise<void> => {
    const signal =
      bullSignal === undefined ? deps.stopping : AbortSignal.any([bullSignal, deps.stopping]);
    // Shutting down: hand the job back without spending an attempt. Whoever takes it next
    // inserts with the same requestId and picks up Compute's operation where it is.
    const handBack = async (): Promise<never> => {
      await job.moveToDelayed(Date.now() + HAND_BACK_DELAY_MS, token);
      deps.onOutcome?.("handed_back");
      throw new DelayedError();
    };
    if (deps.stopping.aborted) await handBack();
    let data: CreateImageJob;
    try {
      data = parseCreateImageJob(job.data);
    } catch (e) {
      if (e instanceof InvalidJobError) throw new UnrecoverableError(e.message);
      throw e;
    }
    const { project, operation: name, requestId } = data;
    // Continue the trace the gateway started; every Compute call of this job carries it.
    const step = startStep("create-image job", data.traceparent, SpanKind.CONSUMER);
    const traced = { traceparent: step.traceparent };
    const log = deps.log.child({
      operation: name,
      requestId,
      traceId: step.traceId,
      project,
      attempt: job.attemptsMade + 1,
    });

    const found = await deps.store.get(project, name);
    if (found === undefined) {
      log.warn("the operation record is gone (expired?); nothing to do");
      deps.onOutcome?.("skipped");
      return;
    }
    if (found.status === Operation_Status.DONE) {
      log.info("the operation is already DONE (cancelled or finished); skipping");
      deps.onOutcome?.("skipped");
      return;
    }
    let current: Operation = found;
    const write = async (next: Operation) => {
      const version = await deps.store.update(next);
      if (version === undefined) return;
      next.version = version;
      current = next;
    };
    const finish = async (failure: Failure) => {
      await write(failedOperation(current, failure));
      log.warn({ code: failure.code, httpStatus: failure.httpStatus }, failure.message);
    };

    try {
      const image = fromJson(ImageSchema, data.image as JsonValue);
      const inserted = await deps.compute.insertImage(project, image, {
        requestId,
        forceCreate: data.forceCreate,
        signal,
        headers: traced,
      });
      await write(applyComputeOperation(current, inserted));
      log.info({ computeOperation: inserted.selfLink }, "Compute accepted the insert");
      const done = await deps.compute.followOperation(project, inserted.name, {
        initial: inserted,
        signal,
        headers: traced,
        ...(deps.followBackoff && { backoff: deps.followBackoff }),
        onUpdate: (op) => write(applyComputeOperation(current, op)),
      });
      log.info({ failed: done.error !== undefined }, "operation DONE");
      deps.onOutcome?.(done.error === undefined ? "done" : "failed");
    } catch (e) {
      if (signal.aborted) {
        log.info("shutting down: handing the job back for another worker");
        await handBack();
      }
      if (e instanceof ComputeApiError && !e.retryable) {
        await finish(failureOf(e));
        deps.onOutcome?.("failed");
        return;
      }
      const attempts = job.opts.attempts ?? 1;
      const lastAttempt = job.attemptsMade + 1 >= attempts;
      const outOfTime = Date.now() - data.acceptedMs > deps.maxRetryMs;
      if (lastAttempt || outOfTime) {
        const last =
          e instanceof ComputeApiError
            ? failureOf(e)
            : { code: "INTERNAL", message: "internal error in the worker", httpStatus: 500 };
        const why = lastAttempt
          ? `${attempts} attempts`
          : `${Math.round(deps.maxRetryMs / 1000)} s of retries`;
        if (!(e instanceof ComputeApiError)) log.error({ err: e }, "unexpected error");
        await finish({ ...last, message: `gave up after ${why}; last error: ${last.message}` });
        deps.onOutcome?.("gave_up");
        return;
      }
      log.warn(
        { err: e instanceof ComputeApiError ? { status: e.httpStatus, reason: e.reason } : e },
        "attempt failed; will retry",
      );
      deps.onOutcome?.("retried");
      throw e;
    } finally {
      step.span.end();
    }
  };
}
