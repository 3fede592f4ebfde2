/**
 * The payload of one "create this image" job. Versioned: a worker refuses a version it does not
 * know rather than guessing, so gateways and workers can be upgraded one after the other.
 */
export interface CreateImageJobV1 {
  readonly v: 1;
  readonly project: string;
  /** This service's operation name; also the job id. */
  readonly operation: string;
  /** Compute's requestId: the same on every attempt, so Compute creates the image at most once. */
  readonly requestId: string;
  /** The Image, as proto JSON (which is Compute's `images.insert` body). */
  readonly image: Record<string, unknown>;
  readonly forceCreate: boolean;
  /** W3C traceparent of the CreateImage call, if any. */
  readonly traceparent?: string;
  /** When the gateway accepted the request, ms since epoch; bounds retries in time. */
  readonly acceptedMs: number;
}

/**
 * Version 2 carries secrets: the image's customer-supplied key, sealed with the service's key
 * (libs/secrets) and kept out of `image`. A version-1 worker refuses it, so during a rollout an
 * old worker can never insert the image without its key.
 */
export interface CreateImageJobV2 extends Omit<CreateImageJobV1, "v"> {
  readonly v: 2;
  /**
   * `rawKey`: `image.image_encryption_key.raw_key`, sealed. Absent once the operation is DONE
   * (scrubbed); a worker must then insert nothing.
   */
  readonly sealed: { readonly rawKey?: string };
}

/**
 * Version 3 adds a webhook (the request's `notification`): where to POST the operation, and at
 * which statuses. Secrets stay sealed as in version 2 (`sealed` is `{}` without a key). A worker
 * that does not know version 3 refuses it, so no rollout drops a notification silently.
 */
export interface CreateImageJobV3 extends Omit<CreateImageJobV2, "v"> {
  readonly v: 3;
  /** Whether the request had a customer-supplied key (sealed until DONE, then scrubbed). */
  readonly keySealed: boolean;
  readonly notify: {
    readonly url: string;
    /** Statuses to announce, in Compute's JSON spelling. */
    readonly on: readonly ("RUNNING" | "DONE")[];
  };
}

export type CreateImageJob = CreateImageJobV1 | CreateImageJobV2 | CreateImageJobV3;

/** The job without its secrets: what stays in Redis once the operation is DONE. */
export function scrubbedJob(job: CreateImageJob): CreateImageJob {
  return job.v === 1 ? job : { ...job, sealed: {} };
}

/** Thrown for a payload this code cannot run; the job should fail for good, not retry. */
export class InvalidJobError extends Error {
  override readonly name = "InvalidJobError";
}

/** Checks a payload read back from Redis. */
export function parseCreateImageJob(data: unknown): CreateImageJob {
  if (typeof data !== "object" || data === null)
    throw new InvalidJobError("job data is not an object");
  const job = data as Record<string, unknown>;
  if (job["v"] !== 1 && job["v"] !== 2 && job["v"] !== 3)
    throw new InvalidJobError(
      `unknown job version ${JSON.stringify(job["v"])}; this worker reads versions 1 to 3`,
    );
  if (job["v"] === 3) {
    const notify = job["notify"] as Record<string, unknown> | null | undefined;
    if (
      typeof notify !== "object" ||
      notify === null ||
      typeof notify["url"] !== "string" ||
      !Array.isArray(notify["on"]) ||
      typeof job["keySealed"] !== "boolean"
    )
      throw new InvalidJobError("job fields notify and keySealed are missing");
  }
  if (job["v"] === 2 || job["v"] === 3) {
    const sealed = job["sealed"] as Record<string, unknown> | null | undefined;
    if (
      typeof sealed !== "object" ||
      sealed === null ||
      (sealed["rawKey"] !== undefined && typeof sealed["rawKey"] !== "string")
    )
      throw new InvalidJobError("job field sealed is missing");
  }
  for (const field of ["project", "operation", "requestId"] as const) {
    if (typeof job[field] !== "string" || job[field] === "")
      throw new InvalidJobError(`job field ${field} is missing`);
  }
  if (typeof job["image"] !== "object" || job["image"] === null)
    throw new InvalidJobError("job field image is missing");
  if (typeof job["acceptedMs"] !== "number")
    throw new InvalidJobError("job field acceptedMs is missing");
  return data as CreateImageJob;
}
