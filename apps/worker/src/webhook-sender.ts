import type { RedisClient } from "@imagesvc/redis";
import {
  createWebhookQueue,
  queuePrefix,
  WEBHOOK_QUEUE,
  type WebhookDelivery,
  type WebhookQueue,
} from "@imagesvc/queue";
import { webhookUrlRefusal, type WebhookPolicy } from "@imagesvc/validation";
import { UnrecoverableError, Worker, type Job } from "bullmq";
import type { Logger } from "pino";
import { Webhook } from "standardwebhooks";

export interface WebhookSenderOptions {
  readonly connection: RedisClient;
  readonly prefix: string;
  /** The signing secret, `whsec_…` (Standard Webhooks); never logged. */
  readonly secret: string;
  readonly policy: WebhookPolicy;
  readonly log: Logger;
  /** Per attempt: connect, send, and read the answer's head, in ms (WEBHOOK_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** How much of an answer is read before it is dropped. Default: 64 KiB. */
  readonly maxResponseBytes?: number;
  /** Attempts and first retry delay of a delivery (WEBHOOK_ATTEMPTS, WEBHOOK_BACKOFF_MS). */
  readonly attempts: number;
  readonly backoffMs: number;
  /** Finished deliveries are kept this long (RECORD_RETENTION_MS). */
  readonly retentionMs: number;
  readonly concurrency?: number;
  /** Told how each attempt ended, for metrics: delivered, retried, failed (retries ran out), refused. */
  readonly onOutcome?: (outcome: "delivered" | "retried" | "failed" | "refused") => void;
}

export interface WebhookSender {
  readonly queue: WebhookQueue;
  readonly worker: Worker<WebhookDelivery>;
  /**
   * One signed POST, answered at once (a promotion's release check): the answer's status, or 0
   * and why when none came in time, or -1 and why when the policy refuses the URL now.
   */
  call(
    url: string,
    id: string,
    type: string,
    data: Record<string, unknown>,
  ): Promise<{ readonly status: number; readonly reason?: string }>;
  close(): Promise<void>;
}

/**
 * Delivers webhooks: BullMQ jobs (so they survive a worker's crash and retry with backoff),
 * each a POST of `{type, timestamp, data: Operation}` signed per Standard Webhooks. No redirect
 * is followed, the URL is checked against the policy again at each attempt, an attempt is
 * bounded in time and in how much of the answer it reads. 2xx is delivered; anything else is
 * retried until the attempts run out, then logged and counted as failed.
 */
export function startWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const signer = new Webhook(options.secret);
  const { timeoutMs } = options;
  const cap = options.maxResponseBytes ?? 64 * 1024;
  const queue = createWebhookQueue({
    connection: options.connection,
    prefix: options.prefix,
    attempts: options.attempts,
    backoffMs: options.backoffMs,
    retentionMs: options.retentionMs,
  });
  const deliver = async (job: Job<WebhookDelivery>) => {
    const d = job.data;
    const refusal = webhookUrlRefusal(d.url, options.policy);
    if (refusal !== undefined) {
      options.onOutcome?.("refused");
      throw new UnrecoverableError(`notification.url ${refusal}`);
    }
    const status = await post(d.url, d.id, d.type, d.operation);
    if (status < 200 || status > 299)
      throw new Error(`${new URL(d.url).host} answered HTTP ${status}`);
  };
  /** One signed POST of `{type, timestamp, data}`; the answer's status. */
  const post = async (url: string, id: string, type: string, data: unknown): Promise<number> => {
    const sentAt = new Date();
    const body = JSON.stringify({ type, timestamp: sentAt.toISOString(), data });
    const res = await fetch(url, {
      method: "POST",
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        "content-type": "application/json",
        "user-agent": "imagesvc-webhooks/1",
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
        "webhook-signature": signer.sign(id, sentAt, body),
      },
    });
    await readAtMost(res, cap);
    return res.status;
  };
  const worker = new Worker<WebhookDelivery>(WEBHOOK_QUEUE, deliver, {
    connection: options.connection,
    prefix: queuePrefix(options.prefix),
    concurrency: options.concurrency ?? 20,
  });
  worker.on("completed", (job) => {
    options.onOutcome?.("delivered");
    options.log.info(
      { webhookId: job.data.id, type: job.data.type, attempts: job.attemptsMade },
      "webhook delivered",
    );
  });
  worker.on("failed", (job, err) => {
    if (job === undefined) return;
    const final = job.attemptsMade >= (job.opts.attempts ?? 1) || err instanceof UnrecoverableError;
    if (!final) {
      options.onOutcome?.("retried");
      return;
    }
    options.onOutcome?.("failed");
    options.log.error(
      {
        webhookId: job.data.id,
        type: job.data.type,
        host: safeHost(job.data.url),
        attempts: job.attemptsMade,
        reason: err.message,
      },
      "webhook not delivered: retries ran out",
    );
  });
  worker.on("error", (e) => {
    options.log.warn({ err: e }, "webhook worker error");
  });
  return {
    queue,
    worker,
    async call(url, id, type, data) {
      const refusal = webhookUrlRefusal(url, options.policy);
      if (refusal !== undefined) return { status: -1, reason: `the URL ${refusal}` };
      try {
        return { status: await post(url, id, type, data) };
      } catch (e) {
        return { status: 0, reason: e instanceof Error ? e.message : String(e) };
      }
    },
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}

/** Reads at most `cap` bytes of the answer, then lets go of the rest. */
async function readAtMost(res: Response, cap: number): Promise<void> {
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = res.body?.getReader();
  if (reader === undefined) return;
  let read = 0;
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) return;
      read += chunk.value.byteLength;
      if (read >= cap) return;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

const safeHost = (url: string) => {
  try {
    return new URL(url).host;
  } catch {
    return "?";
  }
};
