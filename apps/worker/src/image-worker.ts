import type { ComputeClient } from "@imagesvc/compute";
import { backoffDelay, linkedSignal, type BackoffOptions } from "@imagesvc/runtime";
import {
  createFamilyClaims,
  createFamilyPolicies,
  createReleaseSchedules,
  createRolledBack,
  type OperationStore,
} from "@imagesvc/operations";
import type { SecretBox } from "@imagesvc/secrets";
import {
  createImageQueue,
  jobPointer,
  queuePrefix,
  QUEUE_NAME,
  type ImageQueue,
  type WebhookQueue,
} from "@imagesvc/queue";
import { Worker, type Job } from "bullmq";
import type { RedisClient } from "@imagesvc/redis";
import type { Logger } from "pino";
import { createJobProcessor, type JobOutcome } from "./process-job";
import type { ReleaseJobDeps } from "./release-job";
import { createLockWatch } from "./lock-watch";
import { startReconciler, type PassResult } from "./reconciler";
import { startSweeper, type SweepResult } from "./sweeper";

export interface ImageWorkerOptions {
  /** For BullMQ; it needs `maxRetriesPerRequest: null`. */
  readonly connection: RedisClient;
  readonly store: OperationStore;
  readonly compute: ComputeClient;
  readonly log: Logger;
  /** The deployment's prefix (REDIS_PREFIX). */
  readonly prefix: string;
  /** Jobs in flight at once; they mostly wait on Compute (WORKER_CONCURRENCY). */
  readonly concurrency: number;
  /** A job whose worker stops renewing its lock this long is re-run elsewhere, in ms (JOB_LOCK_MS). */
  readonly lockDurationMs: number;
  /** Times a job may stall (its worker died) before it fails (JOB_MAX_STALLED). */
  readonly maxStalledCount: number;
  /** Attempts per job and first retry delay, see libs/queue (JOB_ATTEMPTS, JOB_BACKOFF_MS). */
  readonly attempts: number;
  readonly backoffMs: number;
  /** The records' retention, in ms; finished jobs are kept no longer (RECORD_RETENTION_MS). */
  readonly retentionMs: number;
  /**
   * Inserts are retried this long after the first was dispatched, in ms (JOB_MAX_RETRY_MS). It
   * bounds only getting an insert accepted; an accepted one is followed to its end.
   */
  readonly insertWindowMs: number;
  /** How long Compute remembers a requestId, for settling unanswered inserts, in ms (REQUEST_ID_MEMORY_MS). */
  readonly requestIdMemoryMs: number;
  /** How long after an unanswered insert its image must be visible if it took effect, in ms (INSERT_SETTLE_MS). */
  readonly settleMs: number;
  /** How long 404s must persist before they count, in ms (NOT_FOUND_GRACE_MS). */
  readonly notFoundGraceMs: number;
  /** Sweeper period and grace, in ms (SWEEP_INTERVAL_MS, SWEEP_GRACE_MS). */
  readonly sweepIntervalMs: number;
  readonly sweepGraceMs: number;
  /** Backoff between retries of any Compute call (WAIT_RETRY_INITIAL_MS, WAIT_RETRY_MAX_MS). */
  readonly retryBackoff: Required<Pick<BackoffOptions, "initialMs" | "maxMs">>;
  /** A `wait` that answers sooner without DONE is followed by a pause for the rest, in ms (WAIT_MIN_INTERVAL_MS). */
  readonly minWaitIntervalMs: number;
  /** How often the image is polled once its Compute operation is gone, in ms (IMAGE_POLL_MS). */
  readonly imagePollMs: number;
  /** How long a release holds its family without a step, in ms (FAMILY_CLAIM_MS). */
  readonly familyClaimMs: number;
  /** Pause between the reconciler's passes, in ms (RECONCILE_INTERVAL_MS). */
  readonly reconcileIntervalMs: number;
  /** Told how each job attempt ended, for metrics. */
  readonly onOutcome?: (outcome: JobOutcome) => void;
  /** Told of each record the sweeper cannot read and skips, for a metric. */
  readonly onUnreadable?: () => void;
  /** Opens the customer-supplied keys that jobs carry sealed (SECRETS_KEY_FILE). */
  readonly secrets?: SecretBox;
  /** Where webhook deliveries go (WEBHOOK_SECRET_FILE): see startWebhookSender. */
  readonly webhooks?: WebhookQueue;
  /** Signs and POSTs a promotion's release check (WEBHOOK_SECRET_FILE): WebhookSender.call. */
  readonly releaseCheck?: ReleaseJobDeps["check"];
}

export interface ImageWorker {
  readonly worker: Worker;
  readonly queue: ImageQueue;
  sweepOnce(): Promise<SweepResult>;
  /** One reconciler pass now (scheduled steps and retention), as the timer runs them. */
  reconcileOnce(): Promise<PassResult>;
  /**
   * Stops taking jobs, hands active ones back (they are re-run elsewhere with the same requestId)
   * and closes, within `timeoutMs`; past it, closes by force. Loses no job either way: a job not
   * handed back stalls and is re-run when its lock expires.
   */
  close(timeoutMs?: number): Promise<void>;
}

export function createImageWorker(options: ImageWorkerOptions): ImageWorker {
  const { prefix } = options;
  const lockDuration = options.lockDurationMs;
  const queue = createImageQueue({
    connection: options.connection,
    prefix,
    log: options.log,
    attempts: options.attempts,
    backoffMs: options.backoffMs,
    retentionMs: options.retentionMs,
  });
  const stopping = new AbortController();
  // Every job stops acting at the first sign that its lock is lost (see createLockWatch).
  const locks = createLockWatch({
    lockDurationMs: lockDuration,
    onLost: (jobId, why) => {
      options.log.warn(
        { operation: jobId, why },
        "this worker may have lost the job's lock: stopping it; its re-run resumes from the stored state",
      );
    },
  });
  const retryDelay = (n: number) => backoffDelay(n, options.retryBackoff);
  const schedules = createReleaseSchedules(options.connection, prefix);
  const processor = createJobProcessor({
    enqueue: (project, operation) => queue.wake(jobPointer(project, operation)),
    releases: {
      store: options.store,
      compute: options.compute,
      claims: createFamilyClaims(options.connection, prefix),
      schedules,
      rolledBack: createRolledBack(options.connection, prefix),
      policy: { retryDelay },
      claimTtlMs: options.familyClaimMs,
      log: options.log,
      ...(options.webhooks && { webhooks: options.webhooks }),
      ...(options.releaseCheck && { check: options.releaseCheck }),
    },
    stopping: stopping.signal,
    confirmLock: (jobId) => {
      locks.confirm(jobId);
    },
    store: options.store,
    compute: options.compute,
    log: options.log,
    policy: {
      insertWindowMs: options.insertWindowMs,
      requestIdMemoryMs: options.requestIdMemoryMs,
      settleMs: options.settleMs,
      notFoundGraceMs: options.notFoundGraceMs,
      retryDelay,
      minWaitIntervalMs: options.minWaitIntervalMs,
      imagePollMs: options.imagePollMs,
    },
    ...(options.onOutcome && { onOutcome: options.onOutcome }),
    ...(options.secrets && { secrets: options.secrets }),
    ...(options.webhooks && { webhooks: options.webhooks }),
  });
  const watched = async (job: Job, token?: string, signal?: AbortSignal): Promise<void> => {
    const lock = job.id === undefined ? undefined : locks.track(job.id);
    const linked =
      lock === undefined
        ? undefined
        : linkedSignal(signal === undefined ? [lock.signal] : [signal, lock.signal]);
    try {
      await processor(job, token, linked?.signal ?? signal);
    } finally {
      linked?.release();
      lock?.release();
    }
  };
  const worker = new Worker(QUEUE_NAME, watched, {
    connection: options.connection,
    prefix: queuePrefix(prefix),
    concurrency: options.concurrency,
    lockDuration,
    stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
    maxStalledCount: options.maxStalledCount,
  });
  worker.on("error", (e) => {
    options.log.error({ err: e }, "worker error");
  });
  worker.on("locksRenewed", ({ jobIds }) => {
    locks.renewed(jobIds);
  });
  worker.on("lockRenewalFailed", (jobIds) => {
    locks.failed(jobIds);
  });
  const sweeper = startSweeper({
    store: options.store,
    queue,
    redis: options.connection,
    prefix,
    log: options.log,
    intervalMs: options.sweepIntervalMs,
    graceMs: options.sweepGraceMs,
    ...(options.onUnreadable && { onUnreadable: options.onUnreadable }),
  });
  const reconciler = startReconciler({
    store: options.store,
    queue,
    schedules,
    policies: createFamilyPolicies(options.connection, prefix),
    compute: options.compute,
    redis: options.connection,
    prefix,
    log: options.log,
    intervalMs: options.reconcileIntervalMs,
  });

  return {
    worker,
    queue,
    sweepOnce: () => sweeper.sweepOnce(),
    reconcileOnce: () => reconciler.passOnce(),
    async close(timeoutMs = 25_000) {
      sweeper.stop();
      reconciler.stop();
      locks.close();
      // Abort the active processors (they hand their jobs back, as does any job taken from now
      // on), stop fetching, then close.
      stopping.abort(new Error("the worker is shutting down"));
      await worker.pause(true);
      const closing = worker.close();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => {
          resolve("timeout");
        }, timeoutMs);
      });
      const outcome = await Promise.race([closing, timedOut]);
      clearTimeout(timer);
      if (outcome === "timeout") {
        options.log.warn(
          { timeoutMs },
          "jobs did not hand back in time; closing by force (they will stall and re-run)",
        );
        await worker.close(true);
      }
      await queue.close();
    },
  };
}
