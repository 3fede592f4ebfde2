/**
 * The BullMQ queues between gateway and worker: their names, hash-tagged prefix, payloads (a job
 * points at its operation; the record stores the request) and options.
 */
export {
  createImageQueue,
  jobOptions,
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
  checkStoredRequest,
  parseNotification,
  parseStoredRequest,
  requestOf,
  scrubbedRequest,
  storedRequest,
  type AnnouncedStatus,
  type ImageRequest,
  type NewRequest,
  type Notification,
  type StoredRequest,
  type StoredRequestV1,
  type StoredRequestV2,
  type StoredRequestV3,
  type StoredRequestV4,
  SECRET_FIELDS,
  joinSecrets,
  splitSecrets,
} from "./stored-request";
export { jobPointer, parseJobData, type JobData, type JobPointer } from "./job-pointer";
export {
  createWebhookQueue,
  deliveryFor,
  deliveryJobId,
  WEBHOOK_QUEUE,
  type WebhookDelivery,
  type WebhookQueue,
  type WebhookQueueOptions,
} from "./webhook-queue";
export { InvalidJobError } from "./errors";
export {
  parseReleaseRequest,
  releaseRequestView,
  storedReleaseRequest,
  type ReleaseJob,
  type StoredReleaseRequestV1,
} from "./release-request";
