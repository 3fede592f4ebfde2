import { create, toJson, type JsonObject } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { ACCEPTED, encodeLifecycle, RELEASE_WARNING_DATA, requestIdOf } from "@imagesvc/lifecycle";
import { imageLink, newOperationName, recordRelease } from "@imagesvc/operations";
import {
  type CreateImageRequest,
  ImageSchema,
  Operation_Status,
  Operation_WarningSchema,
  OperationSchema,
  ReleaseMode,
  type Operation,
  type Operation_Warning,
} from "@imagesvc/proto";
import { jobPointer, splitSecrets, storedRequest } from "@imagesvc/queue";
import { SpanKind, startStep } from "@imagesvc/telemetry";
import {
  invalidArgument,
  validateCreateImageRequest,
  webhookUrlRefusal,
} from "@imagesvc/validation";
import { randomUUID } from "node:crypto";
import { refusedResources } from "../auth/named-resources";
import { requestFingerprint } from "../request-fingerprint";
import { authorize } from "./access";
import { notificationOf } from "./notification";
import { preflightRawDisk } from "./raw-disk-preflight";
import type { ImageServiceDeps } from "./deps";
import { cannotKeepRawKey, requestIdReused, resourcesDenied } from "./errors";

/**
 * CreateImage: validate (every violation at once; nothing reaches Redis before this passes),
 * authorize, then record the operation PENDING in the `accepted` phase together with its request
 * id (one script), and queue its job. A repeated request id answers with the existing operation.
 */
export function createImage(deps: ImageServiceDeps) {
  const { store, queue } = deps;
  return async (req: CreateImageRequest, ctx: HandlerContext): Promise<Operation> => {
    const violations = validateCreateImageRequest(req);
    // Which hosts webhooks may call is the deployment's policy (no request forgery from here).
    const hook = req.notification;
    const refusal =
      hook === undefined || violations.length > 0
        ? undefined
        : webhookUrlRefusal(hook.url, deps.webhookPolicy);
    if (refusal !== undefined) violations.push({ field: "notification.url", description: refusal });
    // A release check is called like a webhook, so it is held to the same hosts.
    const checkRefusal =
      req.releaseCheckUrl === "" || violations.length > 0
        ? undefined
        : webhookUrlRefusal(req.releaseCheckUrl, deps.webhookPolicy);
    if (checkRefusal !== undefined)
      violations.push({ field: "release_check_url", description: checkRefusal });
    if (violations.length > 0) throw invalidArgument(violations);
    const caller = authorize(deps, ctx, req.project, "create", "create images in");
    // Promoting once READY changes what the family resolves to: that is the release action.
    if (req.release === ReleaseMode.PROMOTE_WHEN_READY)
      authorize(deps, ctx, req.project, "release", "release images in");
    // Every project and bucket the request names, not only the target: the service reads them
    // with its own credentials (docs/design.md, invariant 4a).
    const refused = refusedResources(deps.policy, caller, req, deps.publicImageProjects);
    if (refused.length > 0) throw resourcesDenied(caller, refused);
    // The request's keys in clear (raw and RSA-wrapped, the image's and its source's): sealed
    // before anything reaches Redis, or refused when this gateway cannot seal them.
    const split = splitSecrets(toJson(ImageSchema, req.image ?? create(ImageSchema)) as JsonObject);
    const secretPaths = Object.keys(split.secrets);
    const secrets = deps.secrets;
    if (secretPaths.length > 0 && secrets === undefined)
      throw cannotKeepRawKey(secretPaths.map(protoPath));
    await deps.rateLimit?.(caller);
    // Before anything is stored: a refused source leaves no operation and no job behind.
    const warnings = await preflightRawDisk(deps, req);
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
      const name = newOperationName(now);
      // A release mode creates the image DEPRECATED: its family keeps resolving to its current
      // image until the promotion (recorded now, started once the image is DONE, or asked later).
      const insertBody =
        req.release === ReleaseMode.UNSPECIFIED
          ? split.image
          : {
              ...split.image,
              deprecated: {
                ...(split.image["deprecated"] as object | undefined),
                state: "DEPRECATED",
              },
            };
      // A repeat (its request id known) records no promotion: it answers with the first
      // CreateImage, which names its own; a reused request id is refused without one.
      const promoteBy =
        req.release === ReleaseMode.PROMOTE_WHEN_READY &&
        (await store.forRequest(req.project, requestId)) === undefined
          ? await recordPromotion(
              deps,
              req.project,
              image.name,
              requestId,
              fingerprint,
              caller,
              name,
              req.releaseCheckUrl,
            )
          : undefined;
      if (promoteBy !== undefined) warnings.push(promotionWarning(promoteBy));
      const operation = create(OperationSchema, {
        kind: "compute#operation",
        name,
        project: req.project,
        operationType: "insert",
        status: Operation_Status.PENDING,
        clientOperationId: requestId,
        targetLink: `https://compute.googleapis.com/compute/v1/projects/${req.project}/global/images/${image.name}`,
        user: caller,
        insertTime: now.toISOString(),
        creationTimestamp: now.toISOString(),
        warnings,
      });
      // The request as the record keeps it, built once (each key is sealed once): no key reaches
      // Redis in clear, and the image stored is the one without them.
      const sealed =
        secrets === undefined
          ? {}
          : Object.fromEntries(
              Object.entries(split.secrets).map(([path, value]) => [path, secrets.seal(value)]),
            );
      const notify = notificationOf(hook);
      const request = storedRequest({
        project: req.project,
        operation: operation.name,
        requestId,
        image: insertBody,
        forceCreate: req.forceCreate,
        ...(promoteBy !== undefined && { promoteBy }),
        traceparent: step.traceparent,
        acceptedMs: now.getTime(),
        sealed,
        ...(notify !== undefined && { notify }),
      });

      const result = await store.create({
        operation,
        requestId,
        fingerprint,
        request: JSON.stringify(request),
        notification: notify === undefined ? "" : JSON.stringify(notify),
        lifecycle: encodeLifecycle(ACCEPTED),
      });
      if (!result.created) {
        if (result.fingerprint !== fingerprint)
          throw requestIdReused(requestId, result.operation.name);
        // Same request again: answer with the existing operation. If its job was lost (the
        // gateway died before queueing it, or Redis refused the write), this heals it; otherwise
        // BullMQ ignores the known id.
        if (result.operation.status === Operation_Status.PENDING)
          await queue.add(jobPointer(req.project, result.operation.name));
        return result.operation;
      }
      await queue.add(jobPointer(req.project, result.operation.name));
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
  };
}

/**
 * Records the PromoteImage operation of a CreateImage with RELEASE_MODE_PROMOTE_WHEN_READY, before
 * the CreateImage itself: it waits for `createOperation`, whose worker queues it once DONE (the
 * sweeper, if that worker dies first). Its request id comes from the CreateImage's, so a repeat
 * records nothing new. Answers with its name.
 */
async function recordPromotion(
  deps: ImageServiceDeps,
  project: string,
  image: string,
  createRequestId: string,
  createFingerprint: string,
  caller: string,
  createOperation: string,
  checkUrl: string,
): Promise<string> {
  const requestId = requestIdOf(createRequestId, image, "promote when ready");
  const recorded = await recordRelease(deps.store, {
    project,
    type: "promote",
    requestId,
    fingerprint: `promote when ready:${createFingerprint}`,
    targetLink: imageLink(project, image),
    user: caller,
    release: {
      kind: "promote",
      image,
      afterOperation: createOperation,
      ...(checkUrl !== "" && { check: { url: checkUrl } }),
    },
    // Queued by the CreateImage's worker once it is DONE.
    enqueue: () => Promise.resolve(),
  });
  return recorded.operation.name;
}

function promotionWarning(operation: string): Operation_Warning {
  return create(Operation_WarningSchema, {
    code: "RELEASE_PROMOTION",
    message: `the image is created DEPRECATED; ${operation} promotes it once it is READY`,
    data: [{ key: "operation", value: operation }, RELEASE_WARNING_DATA],
  });
}

/** A path in the image's JSON as the request field it is: `image.source_disk_encryption_key.raw_key`. */
function protoPath(jsonPath: string): string {
  return `image.${jsonPath.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
}
