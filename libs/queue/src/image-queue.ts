import { Queue, type JobsOptions } from "bullmq";
import { guardRedisCalls, isWrongType, type RedisClient } from "@imagesvc/redis";
import type { JobPointer } from "./job-pointer";

/** The one queue of this service. */
export const QUEUE_NAME = "create-image";
/** The job name inside it. */
export const JOB_NAME = "create-image";

/**
 * BullMQ's key prefix for a deployment prefix. The braces make a Redis Cluster hash tag: every
 * key of the queue lands in one slot, which BullMQ's multi-key scripts require.
 */
export const queuePrefix = (prefix: string) => `{${prefix}:queue}`;

export interface JobOptionsInput {
  /** Attempts per job, the first included (JOB_ATTEMPTS). */
  readonly attempts: number;
  /** First retry delay in ms; doubles each attempt, with ±50% jitter (JOB_BACKOFF_MS). */
  readonly backoffMs: number;
  /**
   * The records' retention, in ms (RECORD_RETENTION_MS): finished jobs are not kept longer than
   * the operations they served.
   */
  readonly retentionMs: number;
}

/**
 * The jobs' options. Completed jobs are kept a day and failed ones a week, never longer than the
 * records (the operation record is the source of truth; jobs are only the work), both capped in
 * number.
 */
export function jobOptions(input: JobOptionsInput): JobsOptions {
  const retentionS = Math.ceil(input.retentionMs / 1000);
  return {
    attempts: input.attempts,
    backoff: { type: "exponential", delay: input.backoffMs, jitter: 0.5 },
    removeOnComplete: { age: Math.min(24 * 3600, retentionS), count: 100_000 },
    removeOnFail: { age: Math.min(7 * 24 * 3600, retentionS), count: 100_000 },
  };
}

export interface ImageQueueOptions extends JobOptionsInput {
  readonly connection: RedisClient;
  /** The deployment's prefix (REDIS_PREFIX). */
  readonly prefix: string;
  /** Where the queue's connection errors are logged (BullMQ prints them otherwise). */
  readonly log?: { warn(fields: object, message: string): void };
  /**
   * How long a new job waits (BullMQ's `delay`) before a worker may take it: a window in which
   * its operation can still be cancelled, for demos and the local stack. Default: 0.
   */
  readonly startDelayMs?: number;
}

/** Where a job stands, as the sweeper needs it. */
export type JobStatus =
  /** No such job: never queued, or removed (a gateway died before queueing it, or Redis lost it). */
  | "missing"
  /** Waiting, delayed or active: a worker will run it (a stalled one is re-run by BullMQ). */
  | "live"
  /** Completed or failed for good: nothing will run it again unless it is queued again. */
  | "finished"
  /** The job's key holds something that is not a BullMQ job (WRONGTYPE): left for a person. */
  | "unreadable";

/** What a test may want to know of one job. */
export interface JobInfo {
  readonly status: JobStatus;
  readonly attemptsMade: number;
  readonly failedReason: string;
}

/**
 * The queue of CreateImage jobs, with the verbs its callers need; BullMQ stays behind it (the
 * worker's `Worker` is BullMQ's, built on the same name and prefix).
 */
export interface ImageQueue {
  /**
   * Queues the operation's job under its name. BullMQ ignores an add whose id exists, so adding
   * the same operation twice runs it once.
   */
  add(job: JobPointer): Promise<void>;
  /**
   * Removes a job that no worker holds. Best effort: false when a worker holds it or it is gone;
   * nothing depends on it (a cancelled operation's job skips itself).
   */
  remove(operation: string): Promise<boolean>;
  /**
   * Queues a job again whose previous run finished without finishing its operation, or that was
   * lost. Removes the finished job first, since BullMQ ignores an add for a known id.
   */
  /** The Redis key of an operation's job (BullMQ's hash). */
  jobKey(operation: string): string;
  /** Removes the job, if any, and queues it again; `delayMs` holds it back that long first. */
  requeue(job: JobPointer, options?: { readonly delayMs?: number }): Promise<void>;
  /**
   * Queues the job, or, if it waits delayed (a promotion waiting for its CreateImage), runs it
   * now. Best effort on the second part: a job that moved on meanwhile is left as it is.
   */
  wake(job: JobPointer): Promise<void>;
  /** Each job's status, in one round trip: one O(1) hash read per job, whatever the queue's size. */
  statuses(operations: readonly string[]): Promise<JobStatus[]>;
  /** One job, for tests and diagnostics. */
  info(operation: string): Promise<JobInfo>;
  /** Jobs per state, for metrics. */
  counts(): Promise<Record<string, number>>;
  /** Deletes the queue and every job in it (tests). */
  obliterate(): Promise<void>;
  close(): Promise<void>;
}

export function createImageQueue(options: ImageQueueOptions): ImageQueue {
  const { connection } = options;
  const queue = new Queue(QUEUE_NAME, {
    connection,
    prefix: queuePrefix(options.prefix),
    defaultJobOptions: jobOptions(options),
  });
  queue.on("error", (e) => {
    options.log?.warn({ err: e }, "queue connection error");
  });
  const add = async (job: JobPointer, delayMs = options.startDelayMs ?? 0) => {
    await queue.add(JOB_NAME, job, {
      jobId: job.operation,
      ...(delayMs > 0 && { delay: delayMs }),
    });
  };
  const statusOf = (timestamp: string | null, finishedOn: string | null): JobStatus =>
    timestamp === null ? "missing" : finishedOn === null ? "live" : "finished";
  return guardRedisCalls({
    add: (job: JobPointer) => add(job),
    jobKey: (operation: string) => queue.toKey(operation),
    async remove(operation) {
      return (await queue.remove(operation)) === 1;
    },
    async requeue(job, { delayMs } = {}) {
      await queue.remove(job.operation);
      await add(job, delayMs);
    },
    async wake(job) {
      await add(job);
      const queued = await queue.getJob(job.operation);
      if (queued !== undefined && (await queued.isDelayed()))
        await queued.promote().catch(() => undefined);
    },
    async statuses(operations) {
      if (operations.length === 0) return [];
      // A job is a hash at its key: `timestamp` exists while the job does, `finishedOn` once it
      // completed or failed for good (BullMQ clears it when a job is retried).
      const pipeline = connection.pipeline();
      for (const id of operations) pipeline.hmget(queue.toKey(id), "timestamp", "finishedOn");
      const replies = (await pipeline.exec()) ?? [];
      return replies.map(([error, value]): JobStatus => {
        if (error && isWrongType(error)) return "unreadable";
        if (error) throw error;
        const [timestamp, finishedOn] = value as (string | null)[];
        return statusOf(timestamp ?? null, finishedOn ?? null);
      });
    },
    async info(operation) {
      // `atm` is BullMQ's field for attempts made (older versions wrote `attemptsMade`).
      const [timestamp, finishedOn, atm, attemptsMade, failedReason] = await connection.hmget(
        queue.toKey(operation),
        "timestamp",
        "finishedOn",
        "atm",
        "attemptsMade",
        "failedReason",
      );
      return {
        status: statusOf(timestamp ?? null, finishedOn ?? null),
        attemptsMade: Number(atm ?? attemptsMade ?? 0),
        failedReason: failedReason ?? "",
      };
    },
    counts: () =>
      queue.getJobCounts("waiting", "active", "delayed", "completed", "failed", "prioritized"),
    obliterate: () => queue.obliterate({ force: true }),
    close: () => queue.close(),
  });
}
