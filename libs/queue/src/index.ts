/** The BullMQ queue between gateway and worker: its name, hash-tagged prefix, payload and options. */
export {
  createImageQueue,
  defaultJobOptions,
  queuePrefix,
  QUEUE_NAME,
  JOB_NAME,
  type ImageQueue,
  type JobInfo,
  type JobStatus,
  type ImageQueueOptions,
  type JobOptionsInput,
} from "./image-queue";
export {
  parseCreateImageJob,
  scrubbedJob,
  InvalidJobError,
  type CreateImageJob,
  type CreateImageJobV1,
  type CreateImageJobV2,
  type CreateImageJobV3,
} from "./create-image-job";
export {
  createWebhookQueue,
  deliveryFor,
  deliveryJobId,
  WEBHOOK_QUEUE,
  type WebhookDelivery,
  type WebhookQueue,
  type WebhookQueueOptions,
} from "./webhook-queue";
