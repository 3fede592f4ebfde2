import { Queue } from "bullmq";
import { guardRedisCalls, type RedisClient } from "@imagesvc/redis";
import type { AnnouncedStatus, Notification } from "./stored-request";
import { queuePrefix } from "./image-queue";

/** The queue of webhook deliveries, beside the image queue under the same prefix. */
export const WEBHOOK_QUEUE = "webhook";

/** One delivery: a signed POST of an operation to a subscriber. */
export interface WebhookDelivery {
  readonly v: 1;
  /** The `webhook-id`: the same on every attempt, so a receiver dedupes retries by it. */
  readonly id: string;
  readonly url: string;
  /** `operation.running` or `operation.done`. */
  readonly type: string;
  /** The Operation, as proto JSON: the `data` of the payload. */
  readonly operation: Record<string, unknown>;
}

export interface WebhookQueueOptions {
  readonly connection: RedisClient;
  /** The deployment's prefix (REDIS_PREFIX). */
  readonly prefix: string;
  /** Attempts per delivery (WEBHOOK_ATTEMPTS; 10 is about 20 minutes of backoff from 2 s). */
  readonly attempts: number;
  /** The first retry's delay; doubles, with jitter (WEBHOOK_BACKOFF_MS). */
  readonly backoffMs: number;
  /** Finished deliveries are kept this long, so a re-run never sends one twice (RECORD_RETENTION_MS). */
  readonly retentionMs: number;
}

export interface WebhookQueue {
  /**
   * Queues the delivery unless one with its id exists (queued, done or failed): at least once,
   * and once when nothing fails in between.
   */
  ensure(delivery: WebhookDelivery): Promise<void>;
  close(): Promise<void>;
}

/** BullMQ ids may not hold ":"; a delivery id becomes the job id this way. */
export const deliveryJobId = (id: string) => id.replaceAll(":", ".");

export function createWebhookQueue(options: WebhookQueueOptions): WebhookQueue {
  const retentionS = Math.ceil(options.retentionMs / 1000);
  const queue = new Queue<WebhookDelivery>(WEBHOOK_QUEUE, {
    connection: options.connection,
    prefix: queuePrefix(options.prefix),
    defaultJobOptions: {
      attempts: options.attempts,
      backoff: { type: "exponential", delay: options.backoffMs, jitter: 0.5 },
      removeOnComplete: { age: retentionS },
      removeOnFail: { age: retentionS },
    },
  });
  return guardRedisCalls<WebhookQueue>({
    async ensure(delivery) {
      await queue.add(delivery.type, delivery, { jobId: deliveryJobId(delivery.id) });
    },
    close: () => queue.close(),
  });
}

/**
 * The delivery of `status` that a job's subscriber asked for, or undefined when it asked for
 * none. Its id is `<operation>:<STATUS>` whoever builds it (the worker after a step, the gateway
 * after a cancel), so every process that queues it queues the same one, and the receiver sees
 * one `webhook-id` per status.
 */
export function deliveryFor(
  notify: Notification | undefined,
  status: AnnouncedStatus,
  operation: { readonly name: string; readonly json: Record<string, unknown> },
): WebhookDelivery | undefined {
  if (notify === undefined || !notify.on.includes(status)) return undefined;
  return {
    v: 1,
    id: `${operation.name}:${status}`,
    url: notify.url,
    type: `operation.${status.toLowerCase()}`,
    operation: operation.json,
  };
}
