import { Queue, type JobsOptions } from "bullmq";
import type { RedisClient } from "@imagesvc/redis";
import type { CreateImageJob } from "./create-image-job";

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
  /** Attempts per job, the first included. Default: 10. */
  readonly attempts?: number;
  /** First retry delay in ms; doubles each attempt, with ±50% jitter. Default: 1000. */
  readonly backoffMs?: number;
}

/**
 * Default job options. Completed jobs are kept a day and failed ones a week (the operation record
 * is the source of truth; jobs are only the work), both capped in number.
 */
export function defaultJobOptions(input: JobOptionsInput = {}): JobsOptions {
  return {
    attempts: input.attempts ?? 10,
    backoff: { type: "exponential", delay: input.backoffMs ?? 1000, jitter: 0.5 },
    removeOnComplete: { age: 24 * 3600, count: 100_000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 100_000 },
  };
}

export interface ImageQueueOptions extends JobOptionsInput {
  readonly connection: RedisClient;
  /** Deployment prefix. Default: "imagesvc". */
  readonly prefix?: string;
  /** Told of the queue's connection errors (BullMQ prints them otherwise). Default: nothing. */
  readonly onError?: (error: Error) => void;
}

export interface ImageQueue {
  readonly queue: Queue;
  /**
   * Queues the job under its operation name. BullMQ ignores an add whose id exists, so adding the
   * same operation twice runs it once.
   */
  add(job: CreateImageJob): Promise<void>;
  close(): Promise<void>;
}

export function createImageQueue(options: ImageQueueOptions): ImageQueue {
  const queue = new Queue(QUEUE_NAME, {
    connection: options.connection,
    prefix: queuePrefix(options.prefix ?? "imagesvc"),
    defaultJobOptions: defaultJobOptions(options),
  });
  queue.on("error", (e) => {
    options.onError?.(e);
  });
  return {
    queue,
    async add(job) {
      await queue.add(JOB_NAME, job, { jobId: job.operation });
    },
    close: () => queue.close(),
  };
}
