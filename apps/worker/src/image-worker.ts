import {
  backoffDelay,
  linkedSignal,
  type BackoffOptions,
  type ComputeClient,
} from "@imagesvc/compute";
import { lifecyclePolicy } from "@imagesvc/lifecycle";
import type { OperationStore } from "@imagesvc/operations";
import type { SecretBox } from "@imagesvc/secrets";
import {
  createImageQueue,
  queuePrefix,
  QUEUE_NAME,
  type ImageQueue,
  type WebhookQueue,
} from "@imagesvc/queue";
import { Worker, type Job } from "bullmq";
import type { RedisClient } from "@imagesvc/redis";
import type { Logger } from "pino";
import { createJobProcessor, type JobOutcome } from "./process-job";
import { createLockWatch } from "./lock-watch";
import { startSweeper, type SweepResult } from "./sweeper";

export interface ImageWorkerOptions {
  /** For BullMQ; it needs `maxRetriesPerRequest: null`. */
  readonly connection: RedisClient;
  readonly store: OperationStore;
  readonly compute: ComputeClient;
  readonly log: Logger;
  /** Deployment prefix. Default: "imagesvc". */
  readonly prefix?: string;
  /** Jobs in flight at once; they mostly wait on Compute. Default: 50. */
  readonly concurrency?: number;
  /** A job whose worker stops renewing its lock this long is re-run elsewhere, in ms. Default: 30000. */
  readonly lockDurationMs?: number;
  /** Times a job may stall (its worker died) before it fails. Default: 5. */
  readonly maxStalledCount?: number;
  /** Attempts per job and first retry delay (see libs/queue). Defaults: 10 and 1000 ms. */
  readonly attempts?: number;
  readonly backoffMs?: number;
  /** The records' retention, in ms; finished jobs are kept no longer. Default: 7 days. */
  readonly retentionMs?: number;
  /**
   * Inserts are retried this long after the first was dispatched, in ms. It bounds only getting
   * an insert accepted; an accepted one is followed to its end. Default: 30 minutes.
   */
  readonly insertWindowMs?: number;
  /** How long Compute remembers a requestId, for settling unanswered inserts, in ms. Default: 60 minutes. */
  readonly requestIdMemoryMs?: number;
  /** How long after an unanswered insert its image must be visible if it took effect, in ms. Default: 5 minutes. */
  readonly settleMs?: number;
  /** How long 404s must persist before they count, in ms. Default: 60000. */
  readonly notFoundGraceMs?: number;
  /** Sweeper period and grace, in ms. Defaults: 30000 and 60000. */
  readonly sweepIntervalMs?: number;
  readonly sweepGraceMs?: number;
  /** Backoff between retries of any Compute call. Default: 500 ms doubling to 30 s, jittered. */
  readonly retryBackoff?: BackoffOptions;
  /** A `wait` that answers sooner without DONE is followed by a pause for the rest, in ms. Default: 1000. */
  readonly minWaitIntervalMs?: number;
  /** How often the image is polled once its Compute operation is gone, in ms. Default: 10000. */
  readonly imagePollMs?: number;
  /** Told how each job attempt ended, for metrics. */
  readonly onOutcome?: (outcome: JobOutcome) => void;
  /** Told of each record the sweeper cannot read and skips, for a metric. */
  readonly onUnreadable?: () => void;
  /** Opens the customer-supplied keys that jobs carry sealed (SECRETS_KEY_FILE). */
  readonly secrets?: SecretBox;
  /** Where webhook deliveries go (WEBHOOK_SECRET_FILE): see startWebhookSender. */
  readonly webhooks?: WebhookQueue;
}

export interface ImageWorker {
  readonly worker: Worker;
  readonly queue: ImageQueue;
  sweepOnce(): Promise<SweepResult>;
  /**
   * Stops taking jobs, hands active ones back (they are re-run elsewhere with the same requestId)
   * and closes, within `timeoutMs`; past it, closes by force. Loses no job either way: a job not
   * handed back stalls and is re-run when its lock expires.
   */
  close(timeoutMs?: number): Promise<void>;
}

export function createImageWorker(options: ImageWorkerOptions): ImageWorker {
  const prefix = options.prefix ?? "imagesvc";
  const lockDuration = options.lockDurationMs ?? 30_000;
  const queue = createImageQueue({
    connection: options.connection,
    prefix,
    onError: (e) => {
      options.log.warn({ err: e }, "queue connection error");
    },
    ...(options.attempts !== undefined && { attempts: options.attempts }),
    ...(options.backoffMs !== undefined && { backoffMs: options.backoffMs }),
    ...(options.retentionMs !== undefined && { retentionMs: options.retentionMs }),
  });
  const stopping = new AbortController();
  const processor = createJobProcessor({
    stopping: stopping.signal,
    store: options.store,
    compute: options.compute,
    log: options.log,
    policy: lifecyclePolicy({
      insertWindowMs: options.insertWindowMs,
      requestIdMemoryMs: options.requestIdMemoryMs,
      settleMs: options.settleMs,
      notFoundGraceMs: options.notFoundGraceMs,
      retryDelay: (n) => backoffDelay(n, options.retryBackoff),
      minWaitIntervalMs: options.minWaitIntervalMs,
      imagePollMs: options.imagePollMs,
    }),
    ...(options.onOutcome && { onOutcome: options.onOutcome }),
    ...(options.secrets && { secrets: options.secrets }),
    ...(options.webhooks && { webhooks: options.webhooks }),
  });
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
    concurrency: options.concurrency ?? 50,
    lockDuration,
    stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
    maxStalledCount: options.maxStalledCount ?? 5,
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
    intervalMs: options.sweepIntervalMs ?? 30_000,
    graceMs: options.sweepGraceMs ?? 60_000,
    ...(options.onUnreadable && { onUnreadable: options.onUnreadable }),
  });

  return {
    worker,
    queue,
    sweepOnce: () => sweeper.sweepOnce(),
    async close(timeoutMs = 25_000) {
      sweeper.stop();
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
