import { create, toJson, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  abortable,
  failedOperation,
  OperationNotFoundError,
  type OperationBus,
  type OperationStore,
} from "@imagesvc/operations";
import {
  ImageSchema,
  type ImageService,
  Operation_Status,
  OperationSchema,
  type Operation,
} from "@imagesvc/proto";
import type { CreateImageJob, ImageQueue } from "@imagesvc/queue";
import {
  checkProjectId,
  invalidArgument,
  validateCreateImageRequest,
  type FieldViolation,
} from "@imagesvc/validation";
import { SpanKind, startStep } from "@imagesvc/telemetry";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { StreamLimiter } from "./auth/limits";
import type { StreamDrain } from "./drain";
import type { Policy } from "./auth/policy";
import { PRINCIPAL } from "./auth/principal";
import { newOperationName, OPERATION_NAME } from "./operation-name";
import { requestFingerprint } from "./request-fingerprint";

/** WaitOperation's cap, like Compute's globalOperations.wait. */
export const MAX_WAIT_MS = 120_000;

export interface ImageServiceDeps {
  readonly store: OperationStore;
  readonly bus: OperationBus;
  readonly queue: ImageQueue;
  readonly log: Logger;
  /** Who may do what in which project. */
  readonly policy: Policy;
  /** CreateImage's per-principal rate limit; throws RESOURCE_EXHAUSTED. Default: none. */
  readonly rateLimit?: (principal: string) => Promise<void>;
  /** Caps open Watch/Wait streams per principal. */
  readonly streams: StreamLimiter;
  /** Ends Watch/Wait streams when the gateway drains. */
  readonly drain: StreamDrain;
  /** Test-only fault hook, run between writing the record and queueing the job. */
  readonly afterRecord?: (operation: Operation) => Promise<void>;
}

/** The ImageService RPCs. Validation first, then Redis; see DESIGN.md for the flow. */
export function createImageService(deps: ImageServiceDeps): ServiceImpl<typeof ImageService> {
  const { store, bus, queue } = deps;

  /** The authenticated caller (the request gate put it there). */
  function callerOf(ctx: HandlerContext): string {
    const principal = ctx.values.get(PRINCIPAL);
    if (principal === undefined) throw new ConnectError("not authenticated", Code.Unauthenticated);
    return principal.name;
  }

  /**
   * Checks a read of one operation. A project the caller may not read answers NOT_FOUND, like
   * an operation that does not exist: existence does not leak across projects.
   */
  function checkRead(project: string, name: string, ctx: HandlerContext): string {
    checkAddress(project, name);
    const caller = callerOf(ctx);
    if (!deps.policy.allows(caller, project, "read")) throw notFound(project, name);
    return caller;
  }

  /** A record of `project` or NOT_FOUND; another project's operation is simply not there. */
  async function find(project: string, name: string, ctx: HandlerContext): Promise<Operation> {
    checkRead(project, name, ctx);
    const op = await abortable(store.get(project, name), ctx.signal);
    if (op === undefined) throw notFound(project, name);
    return op;
  }

  return {
    async createImage(req, ctx) {
      const violations = validateCreateImageRequest(req);
      if (violations.length > 0) throw invalidArgument(violations);
      const caller = callerOf(ctx);
      if (!deps.policy.allows(caller, req.project, "create")) {
        throw new ConnectError(
          `${caller} may not create images in project ${req.project}`,
          Code.PermissionDenied,
        );
      }
      await deps.rateLimit?.(caller);
      // The caller's W3C trace context (or a fresh one) travels on in the job to the Compute calls.
      const step = startStep(
        "CreateImage",
        ctx.requestHeader.get("traceparent") ?? undefined,
        SpanKind.SERVER,
      );
      try {
        const image = req.image ?? create(ImageSchema);
        const requestId = req.requestId === "" ? randomUUID() : req.requestId.toLowerCase();
        const fingerprint = requestFingerprint({ ...req, requestId });
        const now = new Date();
        const operation = create(OperationSchema, {
          kind: "compute#operation",
          name: newOperationName(now),
          project: req.project,
          operationType: "insert",
          status: Operation_Status.PENDING,
          clientOperationId: requestId,
          targetLink: `https://compute.googleapis.com/compute/v1/projects/${req.project}/global/images/${image.name}`,
          user: caller,
          insertTime: now.toISOString(),
          creationTimestamp: now.toISOString(),
        });
        const jobFor = (op: Operation): CreateImageJob => ({
          v: 1,
          project: req.project,
          operation: op.name,
          requestId,
          image: toJson(ImageSchema, image) as JsonObject,
          forceCreate: req.forceCreate,
          traceparent: step.traceparent,
          acceptedMs: Date.parse(op.insertTime),
        });

        const result = await store.create({
          operation,
          requestId,
          fingerprint,
          job: JSON.stringify(jobFor(operation)),
        });
        if (!result.created) {
          if (result.fingerprint !== fingerprint) {
            throw new ConnectError(
              `request_id ${requestId} was already used for a different request (operation ${result.operation.name}); ` +
                "repeat the original request exactly, or send a new request_id",
              Code.AlreadyExists,
            );
          }
          // Same request again: answer with the existing operation. If its job was lost (the gateway
          // died before queueing it), this heals it; otherwise BullMQ ignores the known job id.
          if (result.operation.status === Operation_Status.PENDING)
            await queue.add(jobFor(result.operation));
          return result.operation;
        }
        await deps.afterRecord?.(result.operation);
        await queue.add(jobFor(result.operation));
        deps.log.info(
          {
            operation: operation.name,
            requestId,
            traceId: step.traceId,
            project: req.project,
            image: image.name,
          },
          "image creation accepted",
        );
        return result.operation;
      } finally {
        step.span.end();
      }
    },

    async getOperation(req, ctx) {
      return find(req.project, req.operation, ctx);
    },

    async *watchOperation(req, ctx) {
      const release = deps.streams.acquire(checkRead(req.project, req.operation, ctx));
      const stream = deps.drain.join(ctx.signal);
      try {
        yield* bus.watch(req.project, req.operation, stream.signal);
      } catch (e) {
        if (e instanceof OperationNotFoundError) throw notFound(req.project, req.operation);
        throw e;
      } finally {
        stream.release();
        release();
      }
    },

    async waitOperation(req, ctx) {
      const release = deps.streams.acquire(checkRead(req.project, req.operation, ctx));
      const requested =
        req.timeout === undefined
          ? MAX_WAIT_MS
          : Number(req.timeout.seconds) * 1000 + Math.floor(req.timeout.nanos / 1e6);
      if (requested < 0)
        throw invalidArgument([
          {
            field: "timeout",
            description: "must not be negative; leave it unset to wait up to 2 minutes",
          },
        ]);
      const waitMs = Math.min(requested, MAX_WAIT_MS);
      const stop = new AbortController();
      const timer = setTimeout(() => {
        stop.abort(new Error("wait timeout"));
      }, waitMs);
      const stream = deps.drain.join(ctx.signal);
      const signal = AbortSignal.any([stream.signal, stop.signal]);
      let latest: Operation | undefined;
      try {
        for await (const op of bus.watch(req.project, req.operation, signal)) latest = op;
      } catch (e) {
        if (e instanceof OperationNotFoundError) throw notFound(req.project, req.operation);
        if (!stop.signal.aborted || stream.signal.aborted) throw e;
      } finally {
        clearTimeout(timer);
        stream.release();
        release();
      }
      return latest ?? (await find(req.project, req.operation, ctx));
    },

    async listOperations(req, ctx) {
      const violations: FieldViolation[] = [];
      const projectProblem = checkProjectId(req.project);
      if (projectProblem !== undefined)
        violations.push({ field: "project", description: projectProblem });
      if (req.maxResults > 500)
        violations.push({
          field: "max_results",
          description: `is ${req.maxResults}; use 1-500, or 0 for 500`,
        });
      if (
        req.pageToken !== "" &&
        !/^\d{13}:operation-/.test(Buffer.from(req.pageToken, "base64url").toString())
      ) {
        violations.push({
          field: "page_token",
          description:
            "is not a token this service issued; pass next_page_token from the previous page",
        });
      }
      if (violations.length > 0) throw invalidArgument(violations);
      const caller = callerOf(ctx);
      if (!deps.policy.allows(caller, req.project, "read")) {
        throw new ConnectError(
          `${caller} may not read project ${req.project}`,
          Code.PermissionDenied,
        );
      }
      const page = await abortable(
        store.list(req.project, {
          ...(req.status !== Operation_Status.STATUS_UNSPECIFIED && { status: req.status }),
          maxResults: req.maxResults,
          pageToken: req.pageToken,
        }),
        ctx.signal,
      );
      return { items: page.items, nextPageToken: page.nextPageToken };
    },

    async cancelOperation(req, ctx) {
      const op = await find(req.project, req.operation, ctx);
      const caller = callerOf(ctx);
      if (!deps.policy.allows(caller, req.project, "cancel")) {
        throw new ConnectError(
          `${caller} may not cancel operations in project ${req.project}`,
          Code.PermissionDenied,
        );
      }
      if (op.status === Operation_Status.DONE)
        throw new ConnectError(`operation ${op.name} is already DONE`, Code.FailedPrecondition);
      const notCancellable = new ConnectError(
        `operation ${op.name} has started: Compute has (or is about to get) the insert, and Compute cannot cancel an image insert`,
        Code.FailedPrecondition,
      );
      if (op.status === Operation_Status.RUNNING) throw notCancellable;
      // Removing the job fails while a worker holds it; then the insert is under way.
      const removed = await queue.queue.remove(op.name);
      if (removed === 0 && (await queue.queue.getJobState(op.name)) !== "unknown")
        throw notCancellable;
      const cancelled = failedOperation(op, {
        code: "CANCELLED",
        message: `cancelled by ${caller} before the insert reached Compute`,
      });
      const version = await store.update(cancelled);
      if (version === undefined) throw notCancellable;
      cancelled.version = version;
      deps.log.info({ operation: op.name, project: op.project }, "operation cancelled");
      return cancelled;
    },
  };
}

/**
 * Rejects a malformed project or a missing operation name before any Redis call. A name this
 * gateway could never have issued is NOT_FOUND at once, as an unknown one would be.
 */
function checkAddress(project: string, operation: string): void {
  const violations: FieldViolation[] = [];
  const problem = checkProjectId(project);
  if (problem !== undefined) violations.push({ field: "project", description: problem });
  if (operation === "")
    violations.push({
      field: "operation",
      description: "is required: the name CreateImage returned",
    });
  if (violations.length > 0) throw invalidArgument(violations);
  if (!OPERATION_NAME.test(operation)) throw notFound(project, operation);
}

function notFound(project: string, name: string): ConnectError {
  return new ConnectError(`operation ${name} not found in project ${project}`, Code.NotFound);
}
