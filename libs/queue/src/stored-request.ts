import { InvalidJobError } from "./errors";

/**
 * The request as an operation's record keeps it (its `rq` field), so that any worker can run the
 * operation from the record alone: the image to insert, the request id, the sealed key, the
 * webhook. Versioned: a reader refuses a version it does not know rather than guessing, and the
 * versions are exactly those earlier releases wrote and read, so old and new processes run each
 * other's operations during a rollout. `parseStoredRequest` turns every version into the one
 * shape the worker uses, `ImageRequest`.
 */
export interface StoredRequestV1 {
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
  /** When the gateway accepted the request, ms since epoch. */
  readonly acceptedMs: number;
  /**
   * CreateImage's RELEASE_MODE_PROMOTE_WHEN_READY: the PromoteImage operation recorded with it,
   * whose job the worker queues once this operation is DONE. A release that does not know the
   * field ignores it: the promotion's own record stays PENDING, and the sweeper queues it.
   */
  readonly promoteBy?: string;
}

/**
 * Version 2 carries secrets: the image's customer-supplied key, sealed with the service's key
 * (libs/secrets) and kept out of `image`. A version-1 reader refuses it, so during a rollout an
 * old worker can never insert the image without its key.
 */
export interface StoredRequestV2 extends Omit<StoredRequestV1, "v"> {
  readonly v: 2;
  /**
   * `rawKey`: `image.image_encryption_key.raw_key`, sealed. Absent once the operation is DONE
   * (scrubbed); a worker must then insert nothing.
   */
  readonly sealed: { readonly rawKey?: string };
}

/** The statuses a webhook announces, in Compute's JSON spelling. */
export type AnnouncedStatus = "RUNNING" | "DONE";

/** Where a request's webhook goes, and at which statuses. */
export interface Notification {
  readonly url: string;
  readonly on: readonly AnnouncedStatus[];
}

/**
 * Version 3 adds a webhook (the request's `notification`). Secrets stay sealed as in version 2
 * (`sealed` is `{}` without a key). A reader that does not know version 3 refuses it, so no
 * rollout drops a notification silently.
 */
export interface StoredRequestV3 extends Omit<StoredRequestV2, "v"> {
  readonly v: 3;
  /** Whether the request had a customer-supplied key (sealed until DONE, then scrubbed). */
  readonly keySealed: boolean;
  readonly notify: Notification;
}

/**
 * Version 4 seals every key a request carries, not only the image's raw key: the raw and
 * RSA-wrapped keys of the image and of its source (SECRET_FIELDS), each by its path in `image`
 * (`sourceDiskEncryptionKey.rsaEncryptedKey`). A request whose only secret is the image's raw key
 * stays version 2 or 3, which the previous release reads; one with any other secret is version 4,
 * which the previous release refuses, so no old worker inserts an image without a key it
 * cannot see.
 */
export interface StoredRequestV4 extends Omit<StoredRequestV1, "v"> {
  readonly v: 4;
  readonly keySealed: boolean;
  /** Each secret of `image`, sealed, by its path; `{}` once scrubbed. */
  readonly sealed: Readonly<Record<string, string>>;
  readonly notify?: Notification;
}

export type StoredRequest = StoredRequestV1 | StoredRequestV2 | StoredRequestV3 | StoredRequestV4;

/**
 * The fields of Compute's Image that hold a key in clear: never stored in Redis as they are, but
 * sealed (libs/secrets), and opened only for the insert call. By path in the image's JSON.
 */
export const SECRET_FIELDS: readonly string[] = [
  "imageEncryptionKey",
  "sourceDiskEncryptionKey",
  "sourceImageEncryptionKey",
  "sourceSnapshotEncryptionKey",
].flatMap((key) => [`${key}.rawKey`, `${key}.rsaEncryptedKey`]);

type JsonObject = Record<string, unknown>;

/** `image` without its secrets, and the secrets by path (SECRET_FIELDS). */
export function splitSecrets(image: JsonObject): {
  image: JsonObject;
  secrets: Record<string, string>;
} {
  const out: JsonObject = { ...image };
  const secrets: Record<string, string> = {};
  for (const path of SECRET_FIELDS) {
    const [object = "", field = ""] = path.split(".");
    const holder = out[object] as JsonObject | undefined;
    const value = holder?.[field];
    if (holder === undefined || typeof value !== "string" || value === "") continue;
    const { [field]: _secret, ...rest } = holder;
    out[object] = rest;
    secrets[path] = value;
  }
  return { image: out, secrets };
}

/** `image` with each secret put back at its path. */
export function joinSecrets(
  image: JsonObject,
  secrets: Readonly<Record<string, string>>,
): JsonObject {
  const out: JsonObject = { ...image };
  for (const [path, value] of Object.entries(secrets)) {
    const [object = "", field = ""] = path.split(".");
    out[object] = { ...(out[object] as JsonObject | undefined), [field]: value };
  }
  return out;
}

/** A request as the worker runs it, whichever version stored it. */
export interface ImageRequest {
  readonly project: string;
  readonly operation: string;
  readonly requestId: string;
  /** Compute's `images.insert` body, without its keys in clear (see `sealed`). */
  readonly image: Record<string, unknown>;
  readonly forceCreate: boolean;
  readonly traceparent: string | undefined;
  readonly acceptedMs: number;
  /**
   * Whether the request had keys in clear. Then the image must never be inserted without them:
   * scrubbed keys (`sealed` empty) mean nothing may be inserted.
   */
  readonly keySealed: boolean;
  /** Each key, sealed (libs/secrets), by its path in `image`, while the operation is not DONE. */
  readonly sealed: Readonly<Record<string, string>>;
  readonly notify: Notification | undefined;
  /** The PromoteImage operation to start once this one is DONE, if the request asked. */
  readonly promoteBy?: string;
}

/** What the gateway knows of a new request, for `storedRequest`. */
export interface NewRequest extends Omit<StoredRequestV1, "v"> {
  /** The image's keys, already sealed, by path (SECRET_FIELDS); `image` must not hold them. */
  readonly sealed?: Readonly<Record<string, string>>;
  readonly notify?: Notification;
}

const IMAGE_RAW_KEY = "imageEncryptionKey.rawKey";

/**
 * The stored form of a new request: the oldest version that holds it, so that the previous
 * release's workers run it too (the image's raw key makes it version 2, a webhook version 3, any
 * other key version 4).
 */
export function storedRequest(input: NewRequest): StoredRequest {
  const { sealed: secrets = {}, notify, ...base } = input;
  const paths = Object.keys(secrets);
  if (paths.some((p) => p !== IMAGE_RAW_KEY))
    return {
      ...base,
      v: 4,
      keySealed: true,
      sealed: secrets,
      ...(notify !== undefined && { notify }),
    };
  const sealedKey = secrets[IMAGE_RAW_KEY];
  const sealed = sealedKey === undefined ? {} : { rawKey: sealedKey };
  if (notify !== undefined)
    return { ...base, v: 3, sealed, keySealed: sealedKey !== undefined, notify };
  return sealedKey === undefined ? { ...base, v: 1 } : { ...base, v: 2, sealed };
}

/** The stored request without its secrets: what a job payload keeps once the operation is DONE. */
export function scrubbedRequest(request: StoredRequest): StoredRequest {
  return request.v === 1 ? request : { ...request, sealed: {} };
}

/** Checks a stored request read back from Redis (a record's `rq`, or an old job's payload). */
export function checkStoredRequest(data: unknown): StoredRequest {
  if (typeof data !== "object" || data === null)
    throw new InvalidJobError("the stored request is not an object");
  const job = data as Record<string, unknown>;
  if (job["v"] !== 1 && job["v"] !== 2 && job["v"] !== 3 && job["v"] !== 4)
    throw new InvalidJobError(
      `unknown request version ${JSON.stringify(job["v"])}; this release reads versions 1 to 4`,
    );
  if (job["v"] === 4) {
    const sealed = job["sealed"] as Record<string, unknown> | null | undefined;
    if (
      typeof job["keySealed"] !== "boolean" ||
      typeof sealed !== "object" ||
      sealed === null ||
      Object.entries(sealed).some(([p, v]) => !SECRET_FIELDS.includes(p) || typeof v !== "string")
    )
      throw new InvalidJobError(
        "request fields keySealed and sealed are missing or hold unknown fields",
      );
    const notify = job["notify"] as Record<string, unknown> | null | undefined;
    if (
      notify !== undefined &&
      (typeof notify !== "object" ||
        notify === null ||
        typeof notify["url"] !== "string" ||
        !Array.isArray(notify["on"]))
    )
      throw new InvalidJobError("request field notify is not a webhook");
  }
  if (job["v"] === 3) {
    const notify = job["notify"] as Record<string, unknown> | null | undefined;
    if (
      typeof notify !== "object" ||
      notify === null ||
      typeof notify["url"] !== "string" ||
      !Array.isArray(notify["on"]) ||
      typeof job["keySealed"] !== "boolean"
    )
      throw new InvalidJobError("request fields notify and keySealed are missing");
  }
  if (job["v"] === 2 || job["v"] === 3) {
    const sealed = job["sealed"] as Record<string, unknown> | null | undefined;
    if (
      typeof sealed !== "object" ||
      sealed === null ||
      (sealed["rawKey"] !== undefined && typeof sealed["rawKey"] !== "string")
    )
      throw new InvalidJobError("request field sealed is missing");
  }
  for (const field of ["project", "operation", "requestId"] as const) {
    if (typeof job[field] !== "string" || job[field] === "")
      throw new InvalidJobError(`request field ${field} is missing`);
  }
  if (typeof job["image"] !== "object" || job["image"] === null)
    throw new InvalidJobError("request field image is missing");
  if (typeof job["acceptedMs"] !== "number")
    throw new InvalidJobError("request field acceptedMs is missing");
  return data as StoredRequest;
}

/** JSON from a record's field; a field that is not JSON makes the job invalid. */
function parseStored(json: string, what: string): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch (e) {
    throw new InvalidJobError(
      `the stored ${what} is not JSON (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

/** A record's stored request (JSON), in the one shape the worker runs. */
export function parseStoredRequest(json: string): ImageRequest {
  return requestOf(checkStoredRequest(parseStored(json, "request")));
}

/** Every stored version as an ImageRequest: the one place that knows their differences. */
export function requestOf(stored: StoredRequest): ImageRequest {
  return {
    project: stored.project,
    operation: stored.operation,
    requestId: stored.requestId,
    image: stored.image,
    forceCreate: stored.forceCreate,
    traceparent: stored.traceparent,
    acceptedMs: stored.acceptedMs,
    // Version 2 had no flag: a key was sealed, or has been scrubbed, by definition.
    keySealed: stored.v === 1 ? false : stored.v === 2 ? true : stored.keySealed,
    sealed:
      stored.v === 1
        ? {}
        : stored.v === 4
          ? stored.sealed
          : stored.sealed.rawKey === undefined
            ? {}
            : { [IMAGE_RAW_KEY]: stored.sealed.rawKey },
    notify: stored.v === 3 || stored.v === 4 ? stored.notify : undefined,
    ...(typeof stored.promoteBy === "string" && { promoteBy: stored.promoteBy }),
  };
}

/**
 * A record's webhook field (`nt`, `{url, on}`), or undefined when it has none.
 */
export function parseNotification(json: string): Notification | undefined {
  if (json === "") return undefined;
  const n = parseStored(json, "notification") as Partial<Notification> | null;
  if (typeof n?.url !== "string" || !Array.isArray(n.on))
    throw new InvalidJobError("the stored notification lacks url and on");
  return { url: n.url, on: n.on };
}
