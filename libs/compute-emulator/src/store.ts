import { STATUS_CODES } from "node:http";
import { ComputeFault, notFound } from "./compute-error";
import { newId, newOperationName } from "./ids";
import { encryptionOf, storedKeys, type SourceEncryption } from "./encryption";
import type { InsertBody } from "./insert-body";
import { realMs, type ResolvedEmulatorOptions } from "./options";
import type { ImportOutcome } from "./raw-disk-archive";
import {
  EMPTY_POLICY,
  heldPermissions,
  labelFingerprint,
  parseDeprecation,
  parseSetIamPolicy,
  parseSetLabels,
  policyJson,
  refusedAsSource,
  resolvable,
  type Deprecation,
  type IamPolicy,
} from "./releases";
import { doneAt, phaseAt, progressAt, rfc3339, startedAt, type Timeline } from "./timeline";

interface StoredOperation extends Timeline {
  readonly project: string;
  readonly name: string;
  readonly id: string;
  readonly type: "insert" | "delete" | "deprecate" | "setLabels";
  readonly targetLink: string;
  readonly targetId: string;
  readonly user: string;
  readonly requestId: string | undefined;
  /** Set when the operation will end in error. */
  readonly failure:
    | {
        readonly code: string;
        readonly message: string;
        readonly location: string;
        readonly httpStatus: number;
        /** Compute's structured details, as its operations carry them. */
        readonly errorDetails: readonly Record<string, unknown>[];
      }
    | undefined;
}

interface StoredImage {
  readonly project: string;
  readonly name: string;
  readonly id: string;
  /**
   * As Compute stores it: keys as their sha256, input-only `params` left out. Its `labels` and
   * `deprecated` change with images.setLabels and images.deprecate.
   */
  body: Record<string, unknown>;
  /** Its IAM policy (images.setIamPolicy), EMPTY_POLICY until one is set. */
  iam: IamPolicy;
  /** What the image is encrypted with, for inserts that use it as a source. */
  readonly encryption: SourceEncryption | undefined;
  readonly insertedAt: number;
  readonly operation: StoredOperation;
}

export type OperationJson = Record<string, unknown> & {
  readonly name: string;
  readonly status: string;
};
export type ImageJson = Record<string, unknown> & {
  readonly name: string;
  readonly status: string;
};

/** What `/admin/state` shows: everything the emulator holds, as JSON. */
export interface EmulatorState {
  readonly images: ImageJson[];
  readonly operations: OperationJson[];
  /** images.insert calls that reached the emulator, per requestId (including failed ones). */
  readonly insertCalls: Record<string, number>;
  /** The W3C `traceparent` of the most recent calls that carried one (up to 1000), oldest first. */
  readonly traceparents: { readonly method: string; readonly traceparent: string }[];
  /**
   * The input-only `params` each insert carried (Resource Manager tags), by `project/image`:
   * Compute binds them and never returns them, so tests read them here.
   */
  readonly insertParams: Record<string, unknown>;
  /** Calls per Compute method (and `metadata.token` for tokens issued), including failed ones. */
  readonly calls: Record<string, number>;
}

/**
 * The emulator's memory: images, operations, remembered requestIds and call counts. Every method
 * is synchronous, so concurrent requests cannot interleave inside one (Node runs one at a time):
 * 20 concurrent inserts with one requestId see one image.
 */
export class Store {
  private readonly images = new Map<string, StoredImage>();
  private readonly operations = new Map<string, StoredOperation>();
  private readonly requestIds = new Map<
    string,
    { readonly operation: StoredOperation; readonly expiresAt: number }
  >();
  private readonly insertCalls = new Map<string, number>();
  private readonly calls = new Map<string, number>();
  /** Sources (by `projects/P/...` path) that are encrypted, as tests declared them. */
  private readonly encryptedSources = new Map<string, SourceEncryption>();
  private readonly insertParams = new Map<string, unknown>();
  private traceparents: { method: string; traceparent: string }[] = [];

  constructor(
    private readonly options: ResolvedEmulatorOptions,
    private readonly baseUrl: () => string,
  ) {}

  /** Keeps the trace context a call carried, so tests can follow a trace onto Compute. */
  recordTraceparent(method: string, traceparent: string | undefined): void {
    if (traceparent === undefined) return;
    this.traceparents.push({ method, traceparent });
    if (this.traceparents.length > 1000) this.traceparents = this.traceparents.slice(-1000);
  }

  countCall(route: string, requestId: string | null): void {
    this.calls.set(route, (this.calls.get(route) ?? 0) + 1);
    if (route === "images.insert" && requestId !== null) {
      this.insertCalls.set(requestId, (this.insertCalls.get(requestId) ?? 0) + 1);
    }
  }

  /**
   * Inserts an image, or returns the operation of an earlier insert with the same requestId.
   * Compute treats a repeated requestId as the same request: no second image, the same operation.
   */
  insertImage(
    project: string,
    body: InsertBody,
    requestId: string | null,
    user: string,
    now: number,
    rawDisk?: ImportOutcome,
  ): OperationJson {
    const ridKey = requestId === null ? undefined : `${project}\n${requestId.toLowerCase()}`;
    if (ridKey !== undefined) {
      const seen = this.requestIds.get(ridKey);
      if (seen !== undefined && seen.expiresAt > now)
        return this.operationJson(seen.operation, now);
    }
    this.checkSourceImage(project, body.json["sourceImage"], now);
    const key = `${project}/${body.name}`;
    if (this.images.has(key)) {
      throw new ComputeFault(
        409,
        "alreadyExists",
        `The resource 'projects/${project}/global/images/${body.name}' already exists`,
      );
    }
    const imageId = newId();
    const operation: StoredOperation = {
      project,
      name: newOperationName(now),
      id: newId(),
      type: "insert",
      targetLink: this.link(project, "images", body.name),
      targetId: imageId,
      user,
      requestId: requestId ?? undefined,
      insertedAt: now,
      durationMs: realMs(this.options, this.options.operationDurationMs),
      // Compute accepts the insert and reads the archive afterwards: its faults end the operation.
      failure:
        rawDisk?.ok === false
          ? {
              code: rawDisk.code,
              location: "rawDisk.source",
              message: rawDisk.message,
              httpStatus: rawDisk.httpStatus,
              errorDetails: [
                {
                  errorInfo: {
                    reason: rawDisk.code,
                    domain: "compute.googleapis.com",
                    metadatas: {
                      source: `https://storage.googleapis.com/${body.rawDiskObject ?? ""}`,
                    },
                  },
                },
              ],
            }
          : undefined,
    };
    this.operations.set(`${project}/${operation.name}`, operation);
    const { params, ...stored } = storedKeys(body.json);
    if (params !== undefined) this.insertParams.set(key, params);
    this.images.set(key, {
      project,
      name: body.name,
      id: imageId,
      encryption: encryptionOf(
        body.json["imageEncryptionKey"] as Record<string, unknown> | undefined,
      ),
      body:
        rawDisk?.ok === true
          ? {
              ...stored,
              archiveSizeBytes: String(rawDisk.archiveSizeBytes),
              diskSizeGb: String(rawDisk.diskSizeGb),
            }
          : stored,
      insertedAt: now,
      operation,
      iam: EMPTY_POLICY,
    });
    if (ridKey !== undefined)
      this.requestIds.set(ridKey, {
        operation,
        expiresAt: now + realMs(this.options, this.options.requestIdTtlMs),
      });
    return this.operationJson(operation, now);
  }

  /** Declares `source` encrypted with `key` (admin). */
  encryptSource(source: string, key: Record<string, unknown>): void {
    const encryption = encryptionOf(key);
    if (encryption === undefined)
      throw new RangeError("the key sets none of rawKey, rsaEncryptedKey and kmsKeyName");
    this.encryptedSources.set(sourcePath(source, ""), encryption);
  }

  /** What a source named in an insert into `project` is encrypted with, if the emulator knows. */
  sourceEncryption(project: string, reference: string): SourceEncryption | undefined {
    const path = sourcePath(reference, project);
    const declared = this.encryptedSources.get(path);
    if (declared !== undefined) return declared;
    // A family source is the image it resolves to now, with that image's key.
    const family = /^projects\/([^/]+)\/global\/images\/family\/([^/]+)$/.exec(path);
    if (family !== null)
      return this.newestOfFamily(family[1] ?? "", family[2] ?? "", Date.now())?.encryption;
    const image = /^projects\/([^/]+)\/global\/images\/([^/]+)$/.exec(path);
    return image === null ? undefined : this.images.get(`${image[1]}/${image[2]}`)?.encryption;
  }

  /** Deletes an image at once and returns a DONE delete operation. */
  deleteImage(
    project: string,
    name: string,
    user: string,
    now: number,
    requestId: string | null = null,
  ): OperationJson {
    return this.mutate(project, name, "delete", { user, now, requestId }, () => {
      this.images.delete(`${project}/${name}`);
    });
  }

  /**
   * images.deprecate: sets the image's deprecation status, or clears it (an empty body, or state
   * ACTIVE). Compute enacts nothing: the status stays until a client changes it.
   */
  deprecateImage(
    project: string,
    name: string,
    body: unknown,
    how: { readonly user: string; readonly now: number; readonly requestId: string | null },
  ): OperationJson {
    const status = parseDeprecation(body);
    return this.mutate(project, name, "deprecate", how, (image) => {
      const { deprecated: _cleared, ...rest } = image.body;
      image.body = status === undefined ? rest : { ...rest, deprecated: status };
    });
  }

  /** images.setLabels, under the labelFingerprint the caller read (412 when it is stale). */
  setLabels(
    project: string,
    name: string,
    body: unknown,
    how: { readonly user: string; readonly now: number; readonly requestId: string | null },
  ): OperationJson {
    return this.mutate(project, name, "setLabels", how, (image) => {
      const labels = parseSetLabels(
        body,
        image.body["labels"] as Record<string, string> | undefined,
      );
      const { labels: _old, ...rest } = image.body;
      image.body = Object.keys(labels).length === 0 ? rest : { ...rest, labels };
    });
  }

  /**
   * images.getFromFamily: the newest READY image of the family that is not deprecated (DEPRECATED,
   * OBSOLETE and DELETED ones are skipped, as Compute skips them), or 404.
   */
  imageFromFamily(project: string, family: string, now: number): ImageJson {
    const image = this.newestOfFamily(project, family, now);
    if (image === undefined) throw notFound(`projects/${project}/global/images/family/${family}`);
    return this.imageJson(image, now);
  }

  getIamPolicy(project: string, name: string): Record<string, unknown> {
    return policyJson(this.image(project, name).iam);
  }

  /** images.setIamPolicy: replaces the policy if the caller's etag is the current one. */
  setIamPolicy(project: string, name: string, body: unknown): Record<string, unknown> {
    const image = this.image(project, name);
    image.iam = parseSetIamPolicy(body, image.iam);
    return policyJson(image.iam);
  }

  testIamPermissions(project: string, name: string, body: unknown): Record<string, unknown> {
    this.image(project, name);
    return heldPermissions(body);
  }

  private image(project: string, name: string): StoredImage {
    const image = this.images.get(`${project}/${name}`);
    if (image === undefined) throw notFound(`projects/${project}/global/images/${name}`);
    return image;
  }

  private newestOfFamily(project: string, family: string, now: number): StoredImage | undefined {
    let newest: StoredImage | undefined;
    for (const image of this.images.values())
      if (
        image.project === project &&
        image.body["family"] === family &&
        resolvable(image.body["deprecated"] as Deprecation | undefined) &&
        this.imageJson(image, now).status === "READY" &&
        (newest === undefined || image.insertedAt >= newest.insertedAt)
      )
        newest = image;
    return newest;
  }

  /**
   * Refuses an insert whose source image Compute would refuse: one this emulator holds that is
   * OBSOLETE or DELETED, or a family of this emulator's with no image it resolves to. Sources it
   * does not hold (public images, say) stay valid, as before.
   */
  private checkSourceImage(project: string, reference: unknown, now: number): void {
    if (typeof reference !== "string" || reference === "") return;
    const path = sourcePath(reference, project);
    const family = /^projects\/([^/]+)\/global\/images\/family\/([^/]+)$/.exec(path);
    if (family !== null) {
      const [, owner = "", name = ""] = family;
      const known = [...this.images.values()].some(
        (i) => i.project === owner && i.body["family"] === name,
      );
      if (known && this.newestOfFamily(owner, name, now) === undefined) throw notFound(path);
      return;
    }
    const image = /^projects\/([^/]+)\/global\/images\/([^/]+)$/.exec(path);
    if (image === null) return;
    const held = this.images.get(`${image[1] ?? ""}/${image[2] ?? ""}`);
    const deprecation = held?.body["deprecated"] as Deprecation | undefined;
    if (refusedAsSource(deprecation))
      throw new ComputeFault(
        400,
        "invalid",
        `Invalid value for field 'resource.sourceImage': '${reference}'. The referenced image resource is ${deprecation?.state ?? ""}${deprecation?.replacement === undefined ? "" : `; its replacement is ${deprecation.replacement}`}.`,
        { location: "resource.sourceImage" },
      );
  }

  /**
   * One mutating call on an existing image, DONE at once: `apply` changes it (or throws Compute's
   * refusal, changing nothing). A requestId seen before answers with the operation it made, and
   * applies nothing again, as Compute does.
   */
  private mutate(
    project: string,
    name: string,
    type: StoredOperation["type"],
    how: { readonly user: string; readonly now: number; readonly requestId: string | null },
    apply: (image: StoredImage) => void,
  ): OperationJson {
    const { user, now, requestId } = how;
    const ridKey = requestId === null ? undefined : `${project}\n${requestId.toLowerCase()}`;
    const seen = ridKey === undefined ? undefined : this.requestIds.get(ridKey);
    if (seen !== undefined && seen.expiresAt > now) return this.operationJson(seen.operation, now);
    const image = this.image(project, name);
    apply(image);
    const operation: StoredOperation = {
      project,
      name: newOperationName(now),
      id: newId(),
      type,
      targetLink: this.link(project, "images", name),
      targetId: image.id,
      user,
      requestId: requestId ?? undefined,
      insertedAt: now,
      durationMs: 0,
      failure: undefined,
    };
    this.operations.set(`${project}/${operation.name}`, operation);
    if (ridKey !== undefined)
      this.requestIds.set(ridKey, {
        operation,
        expiresAt: now + realMs(this.options, this.options.requestIdTtlMs),
      });
    return this.operationJson(operation, now);
  }

  getImage(project: string, name: string, now: number): ImageJson {
    const image = this.images.get(`${project}/${name}`);
    if (image === undefined) throw notFound(`projects/${project}/global/images/${name}`);
    return this.imageJson(image, now);
  }

  /** A project's images in the order they were inserted (the list's `orderBy` sorts them). */
  listImages(project: string, now: number): ImageJson[] {
    return [...this.images.values()]
      .filter((i) => i.project === project)
      .map((i) => this.imageJson(i, now));
  }

  /** The stored operation, for `wait` to know when it will be DONE. */
  operationTimeline(project: string, name: string, now: number): Timeline {
    return this.liveOperation(project, name, now);
  }

  getOperation(project: string, name: string, now: number): OperationJson {
    return this.operationJson(this.liveOperation(project, name, now), now);
  }

  listOperations(project: string, now: number): OperationJson[] {
    return [...this.operations.values()]
      .filter((o) => o.project === project && !this.forgotten(o, now))
      .map((o) => this.operationJson(o, now));
  }

  /** An operation Compute still knows: 404 once it is unknown or past its retention. */
  private liveOperation(project: string, name: string, now: number): StoredOperation {
    const operation = this.operations.get(`${project}/${name}`);
    if (operation === undefined || this.forgotten(operation, now))
      throw notFound(`projects/${project}/global/operations/${name}`);
    return operation;
  }

  /** Compute keeps a finished operation for its retention period, then forgets it. */
  private forgotten(o: StoredOperation, now: number): boolean {
    return now >= doneAt(o) + realMs(this.options, this.options.operationRetentionMs);
  }

  deleteOperation(project: string, name: string): void {
    if (!this.operations.delete(`${project}/${name}`))
      throw notFound(`projects/${project}/global/operations/${name}`);
  }

  state(now: number): EmulatorState {
    return {
      images: [...this.images.values()].map((i) => this.imageJson(i, now)),
      operations: [...this.operations.values()].map((o) => this.operationJson(o, now)),
      insertCalls: Object.fromEntries(this.insertCalls),
      traceparents: [...this.traceparents],
      insertParams: Object.fromEntries(this.insertParams),
      calls: Object.fromEntries(this.calls),
    };
  }

  reset(): void {
    this.images.clear();
    this.operations.clear();
    this.requestIds.clear();
    this.insertCalls.clear();
    this.calls.clear();
    this.encryptedSources.clear();
    this.insertParams.clear();
    this.traceparents = [];
  }

  /** Forgets requestIds and operations whose time is up; called now and then so memory stays bounded. */
  expire(now: number): void {
    for (const [key, entry] of this.requestIds)
      if (entry.expiresAt <= now) this.requestIds.delete(key);
    for (const [key, operation] of this.operations)
      if (this.forgotten(operation, now)) this.operations.delete(key);
  }

  private link(project: string, collection: string, name: string): string {
    return `${this.baseUrl()}/compute/v1/projects/${project}/global/${collection}/${name}`;
  }

  private operationJson(o: StoredOperation, now: number): OperationJson {
    const status = phaseAt(o, now);
    const json: OperationJson = {
      kind: "compute#operation",
      id: o.id,
      name: o.name,
      operationType: o.type,
      targetLink: o.targetLink,
      targetId: o.targetId,
      status,
      user: o.user,
      progress: progressAt(o, now),
      insertTime: rfc3339(o.insertedAt),
      creationTimestamp: rfc3339(o.insertedAt),
      selfLink: this.link(o.project, "operations", o.name),
    };
    if (o.requestId !== undefined) json["clientOperationId"] = o.requestId;
    if (status !== "PENDING") json["startTime"] = rfc3339(startedAt(o));
    if (status === "DONE") {
      json["endTime"] = rfc3339(doneAt(o));
      if (o.failure !== undefined) {
        const { httpStatus, ...error } = o.failure;
        json["error"] = { errors: [error] };
        json["httpErrorStatusCode"] = httpStatus;
        json["httpErrorMessage"] = (STATUS_CODES[httpStatus] ?? "ERROR").toUpperCase();
      }
    }
    return json;
  }

  private imageJson(i: StoredImage, now: number): ImageJson {
    const opPhase = phaseAt(i.operation, now);
    const status =
      opPhase !== "DONE" ? "PENDING" : i.operation.failure === undefined ? "READY" : "FAILED";
    return {
      ...i.body,
      kind: "compute#image",
      id: i.id,
      name: i.name,
      creationTimestamp: rfc3339(i.insertedAt),
      status,
      labelFingerprint: labelFingerprint(i.body["labels"] as Record<string, string> | undefined),
      sourceType: "RAW",
      selfLink: this.link(i.project, "images", i.name),
    };
  }
}

/** A source reference as `projects/P/...`: its URL prefix dropped, a relative one in `project`. */
function sourcePath(reference: string, project: string): string {
  const path = reference.replace(/^https:\/\/[^/]+\/compute\/(?:v1|beta|alpha)\//, "");
  return path.startsWith("projects/") ? path : `projects/${project}/${path}`;
}
