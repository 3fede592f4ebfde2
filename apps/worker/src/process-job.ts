import type { JsonObject } from "@bufbuild/protobuf";
import { ComputeApiError, type ComputeClient } from "@imagesvc/compute";
import { linkedSignal, sleep } from "@imagesvc/runtime";
import {
  decide,
  decodeReleaseState,
  withOwnershipLabel,
  type Effect,
  type LifecycleEvent,
  type LifecyclePolicy,
  type Outcome,
} from "@imagesvc/lifecycle";
import {
  OperationGoneError,
  step,
  subjectOf,
  type LoadedSubject,
  type OperationStore,
} from "@imagesvc/operations";
import {
  InvalidJobError,
  parseJobData,
  joinSecrets,
  parseNotification,
  parseStoredRequest,
  requestOf,
  scrubbedRequest,
  type ImageRequest,
  type JobData,
  type Notification,
  type WebhookQueue,
} from "@imagesvc/queue";
import type { SecretBox } from "@imagesvc/secrets";
import { SpanKind, startStep } from "@imagesvc/telemetry";
import { DelayedError, UnrecoverableError, type Job } from "bullmq";
import type { Logger } from "pino";
import { announcer } from "./announce";
import { LockLostError } from "./lock-watch";
import { WaitLater } from "./release-driver";
import { runReleaseJob, type ReleaseJobDeps } from "./release-job";

export interface ProcessJobDeps {
  readonly store: OperationStore;
  readonly compute: ComputeClient;
  readonly log: Logger;
  /** The lifecycle's timing rules: insert window, retry backoff, wait interval, image polling. */
  readonly policy: LifecyclePolicy;
  /** Opens the customer-supplied keys requests carry sealed (SECRETS_KEY_FILE). Without it, such operations fail this worker's attempt and wait for one that has it. */
  readonly secrets?: SecretBox;
  /** Aborted when this worker shuts down: every job in flight, and any taken after, is handed back. */
  readonly stopping: AbortSignal;
  /** Told how each job attempt ended, for metrics. */
  readonly onOutcome?: (outcome: JobOutcome) => void;
  /**
   * Where webhook deliveries go (WEBHOOK_SECRET_FILE). Without it, an operation that asks for one
   * fails this worker's attempt, and the sweeper queues it again for one that has it.
   */
  readonly webhooks?: WebhookQueue;
  /** Queues an operation's job: the promotion a CreateImage asked for, once it is DONE. */
  readonly enqueue?: (project: string, operation: string) => Promise<void>;
  /** What release jobs need; without it, a release's job fails and waits for a worker that has it. */
  readonly releases?: ReleaseJobDeps;
  /** Stops the job (aborting its signal) if its lock is in doubt; asked right before an insert. */
  readonly confirmLock?: (jobId: string) => void;
}

/**
 * How a job attempt ended: the operation's outcome, or `handed_back` (shutdown), `skipped` (the
 * record is gone or already DONE), `retried` (an unexpected error; BullMQ runs it again).
 */
export type JobOutcome = Outcome | "handed_back" | "skipped" | "retried";

/** A handed-back job waits this long before it can be taken again, so a closing worker cannot spin on it. */
const HAND_BACK_DELAY_MS = 500;

/**
 * One job: load the operation's lifecycle → ask `decide` → commit → perform the effect (insert,
 * wait, look at the image) → feed its answer back, until the lifecycle says there is nothing left.
 * The rules live in libs/lifecycle; this is only the loop and the Compute calls.
 *
 * A re-run (after a crash, a stall, an unexpected error or a shutdown hand-back) starts with a
 * `run` event on whatever state is stored: it resumes the recorded Compute operation, or inserts
 * again with the same requestId; it never inserts once Compute has accepted.
 */
export function createJobProcessor(deps: ProcessJobDeps) {
  return async (job: Job, token?: string, bullSignal?: AbortSignal): Promise<void> => {
    // Shutting down: hand the job back without spending an attempt. Whoever takes it next
    // resumes from the stored lifecycle.
    const handBack = async (): Promise<never> => {
      await job.moveToDelayed(Date.now() + HAND_BACK_DELAY_MS, token);
      deps.onOutcome?.("handed_back");
      throw new DelayedError();
    };
    if (deps.stopping.aborted) await handBack();
    let data: JobData;
    try {
      data = parseJobData(job.data);
    } catch (e) {
      // A payload this worker cannot read (a newer release's, during a rollout): fail the job,
      // leave the operation; the sweeper queues it again for a worker that can.
      if (e instanceof InvalidJobError) throw new UnrecoverableError(e.message);
      throw e;
    }
    const { project, operation: name } = data;
    const stored = await deps.store.getStored(project, name);
    // A release (PromoteImage, RollbackFamily, DeprecateImage, ShareImage, a reconciler's step)
    // is its own lifecycle; it shares the queue, the record and the sweeper with CreateImage.
    // (Told by its lifecycle, which every release record holds, DONE ones included.)
    if (
      stored !== undefined &&
      decodeReleaseState(stored.lifecycle) !== undefined &&
      deps.releases !== undefined
    ) {
      const linkedRelease =
        bullSignal === undefined ? undefined : linkedSignal([bullSignal, deps.stopping]);
      try {
        deps.onOutcome?.(
          await runReleaseJob(deps.releases, stored, linkedRelease?.signal ?? deps.stopping),
        );
        return;
      } catch (e) {
        if (deps.stopping.aborted || bullSignal?.aborted === true) await handBack();
        // A promotion waiting for its CreateImage: back to the queue until the next look, its
        // state committed, no attempt spent, no worker slot held meanwhile.
        if (e instanceof WaitLater) {
          await job.moveToDelayed(Date.now() + Math.max(e.delayMs, HAND_BACK_DELAY_MS), token);
          deps.onOutcome?.("handed_back");
          throw new DelayedError();
        }
        throw e;
      } finally {
        linkedRelease?.release();
      }
    }
    const loaded = stored === undefined ? undefined : subjectOf(stored);
    if (loaded === undefined) {
      deps.log.warn(
        { operation: name, project },
        "the operation record is gone (expired?); nothing to do",
      );
      deps.onOutcome?.("skipped");
      return;
    }
    // The record is the one source of truth: the request it stores (gone once DONE) and its
    // webhook. An unreadable one fails the job; the sweeper retries it with a worker that reads it.
    let request: ImageRequest | undefined;
    let notify: Notification | undefined;
    try {
      request = loaded.request === "" ? undefined : parseStoredRequest(loaded.request);
      notify = parseNotification(loaded.notification) ?? request?.notify ?? legacyNotify(data);
    } catch (e) {
      if (e instanceof InvalidJobError) throw new UnrecoverableError(e.message);
      throw e;
    }
    if (notify !== undefined && deps.webhooks === undefined) {
      deps.log.error(
        { operation: name, project },
        "the operation asks for a webhook and this worker has no WEBHOOK_SECRET_FILE to sign it with",
      );
      throw new UnrecoverableError("this worker has no WEBHOOK_SECRET_FILE to sign webhooks with");
    }
    if (request?.keySealed === true && deps.secrets === undefined) {
      // Nothing dispatched: the job fails, and the sweeper queues it again for a worker that can.
      deps.log.error(
        { operation: name, project },
        "the request carries a sealed encryption key and this worker has no SECRETS_KEY_FILE",
      );
      throw new UnrecoverableError("this worker has no SECRETS_KEY_FILE to open the request's key");
    }
    // Continue the trace the gateway started; every Compute call of this job carries it.
    const trace = startStep("create-image job", request?.traceparent, SpanKind.CONSUMER);
    const log = deps.log.child({
      operation: name,
      requestId: loaded.requestId,
      traceId: trace.traceId,
      project,
      attempt: job.attemptsMade + 1,
    });
    // Aborted by BullMQ (the job was cancelled, its lock lost) or by this worker's shutdown.
    const linked = bullSignal === undefined ? undefined : linkedSignal([bullSignal, deps.stopping]);
    const signal = linked?.signal ?? deps.stopping;
    const calls =
      request === undefined
        ? undefined
        : computeCalls(
            deps.compute,
            request,
            deps.secrets,
            { traceparent: trace.traceparent },
            signal,
          );

    try {
      let subject: LoadedSubject = loaded;
      let event: LifecycleEvent = { type: "run", now: Date.now() };
      const announce = announcer(name, notify, deps.webhooks);
      for (;;) {
        // A worker that lost the job's lock (see watchLocks) commits nothing more for it.
        signal.throwIfAborted();
        const before = subject.lifecycle.phase;
        const next = event;
        const taken = await step(deps.store, subject, (s) => decide(s, next, deps.policy));
        subject = taken.subject;
        // Each status the subscriber asked for, once reached, has its delivery queued before the
        // job goes on (or ends): a crash in between re-runs the job, which queues it then.
        await announce(subject.operation);
        const { effect } = taken.decision;
        if (subject.lifecycle.phase !== before)
          log.info(
            { from: before, to: subject.lifecycle.phase, effect: effect.kind },
            "lifecycle step",
          );
        if (effect.kind === "none") {
          // CreateImage's promote-when-ready: the promotion recorded with it starts now (it
          // refuses itself if the image was not created). A crash before this leaves its record
          // PENDING without a job, which the sweeper queues.
          if (subject.lifecycle.phase === "done" && request?.promoteBy !== undefined)
            await deps.enqueue?.(project, request.promoteBy);
          // DONE: a previous release's job payload keeps no secret for the day BullMQ keeps it.
          if (
            subject.lifecycle.phase === "done" &&
            data.legacy !== undefined &&
            data.legacy.v !== 1
          )
            await job.updateData(scrubbedRequest(data.legacy));
          report(deps, log, subject, event);
          return;
        }
        // An effect needs the request; a record without one is DONE (decide asks for nothing then).
        if (calls === undefined)
          throw new InvalidJobError(
            `operation ${name} is not DONE and its record holds no request`,
          );
        await sleep(effect.delayMs, signal);
        // An insert goes out only on a lock this worker still holds: after a long pause the
        // watch may not have ticked yet, so ask it now.
        if (effect.kind === "insert" && job.id !== undefined) {
          deps.confirmLock?.(job.id);
          signal.throwIfAborted();
        }
        event = await calls.perform(effect, subject);
      }
    } catch (e) {
      if (signal.aborted) {
        if (signal.reason instanceof LockLostError)
          log.warn({ why: signal.reason.message }, "stopped: the job's lock may be lost");
        else log.info("shutting down: handing the job back for another worker");
        // Succeeds only while this worker still holds the lock; otherwise the re-run has it.
        await handBack();
      }
      if (e instanceof OperationGoneError) {
        log.warn("the operation record expired while its job ran");
        deps.onOutcome?.("skipped");
        return;
      }
      // Not Compute's answer (those are events): Redis or a bug. BullMQ retries the job; a re-run
      // resumes from the stored lifecycle, and the sweeper queues the job again if it fails.
      log.error({ err: e }, "job attempt failed; it will run again");
      deps.onOutcome?.("retried");
      throw e;
    } finally {
      linked?.release();
      trace.span.end();
    }
  };
}

function report(
  deps: ProcessJobDeps,
  log: Logger,
  subject: LoadedSubject,
  event: LifecycleEvent,
): void {
  if (subject.lifecycle.phase !== "done") {
    deps.onOutcome?.("skipped");
    return;
  }
  if (event.type === "run") {
    log.info({ outcome: subject.lifecycle.outcome }, "the operation is already DONE; skipping");
    deps.onOutcome?.("skipped");
    return;
  }
  const { outcome } = subject.lifecycle;
  const error = subject.operation.error?.errors[0];
  if (outcome === "succeeded") log.info({ targetId: subject.operation.targetId }, "operation DONE");
  else
    log.warn(
      { outcome, code: error?.code, message: error?.message },
      "operation DONE with an error",
    );
  deps.onOutcome?.(outcome);
}

/** The Compute calls behind each effect, each answer turned into the lifecycle's next event. */
function computeCalls(
  compute: ComputeClient,
  request: ImageRequest,
  secrets: SecretBox | undefined,
  headers: Readonly<Record<string, string>>,
  signal: AbortSignal,
) {
  const { project, requestId } = request;
  const imageName = typeof request.image["name"] === "string" ? request.image["name"] : "";
  const options = { signal, headers };
  /** Compute's refusals and failures are events; anything else is thrown. */
  const failure = (e: unknown): ComputeApiError => {
    if (e instanceof ComputeApiError && !signal.aborted) return e;
    throw e;
  };
  return {
    async perform(effect: Exclude<Effect, { kind: "none" }>, subject: LoadedSubject) {
      switch (effect.kind) {
        case "insert": {
          // Every image carries its request id as a label: the second proof that it is ours.
          // The stored image is Compute's JSON already (the gateway wrote it with toJson), so it
          // goes to Compute as it is: no conversion to a message and back per insert.
          const image = withOwnershipLabel(withSecrets(request, secrets), requestId) as JsonObject;
          try {
            const operation = await compute.insertImage(project, image, {
              ...options,
              requestId,
              forceCreate: request.forceCreate,
            });
            return { type: "inserted", operation, now: Date.now() } as const;
          } catch (e) {
            return { type: "insertFailed", error: failure(e), now: Date.now() } as const;
          }
        }
        case "wait": {
          const name =
            subject.lifecycle.phase === "following" ? subject.lifecycle.computeOperation : "";
          const started = Date.now();
          try {
            const operation = await compute.waitOperation(project, name, options);
            const now = Date.now();
            return { type: "observed", operation, elapsedMs: now - started, now } as const;
          } catch (e) {
            return { type: "waitFailed", error: failure(e), now: Date.now() } as const;
          }
        }
        case "getImage":
          try {
            const image = await compute.getImage(project, imageName, options);
            return {
              type: "imageFound",
              image: {
                id: image.id ?? "",
                status: image.status ?? "PENDING",
                labels: (image["labels"] ?? {}) as Record<string, string>,
              },
              now: Date.now(),
            } as const;
          } catch (e) {
            const error = failure(e);
            if (error.httpStatus === 404) return { type: "imageMissing", now: Date.now() } as const;
            return { type: "imageCheckFailed", error, now: Date.now() } as const;
          }
      }
    },
  };
}

/**
 * The image to insert, with its sealed keys opened for this call only. A scrubbed request (its
 * operation is DONE) has no key left: inserting it would make an unencrypted image, so it throws.
 */
function withSecrets(
  request: ImageRequest,
  secrets: SecretBox | undefined,
): Record<string, unknown> {
  if (!request.keySealed) return request.image;
  const sealed = Object.entries(request.sealed);
  if (sealed.length === 0 || secrets === undefined)
    throw new Error(
      "the request's encryption keys are gone (scrubbed) or cannot be opened; not inserting",
    );
  return joinSecrets(
    request.image,
    Object.fromEntries(sealed.map(([path, value]) => [path, secrets.open(value)])),
  );
}

/** The webhook a previous release's job payload carried, for a record that holds none. */
function legacyNotify(data: JobData): Notification | undefined {
  return data.legacy === undefined ? undefined : requestOf(data.legacy).notify;
}
