import {
  create,
  toBinary,
  type DescMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { ComputeApiError } from "@imagesvc/compute";
import {
  encodeReleaseState,
  type DeprecationTimes,
  type RetentionPolicy,
  type ReleaseRequest,
  type ScheduledStep,
  type ShareRequest,
} from "@imagesvc/lifecycle";
import {
  DeprecateImageRequestSchema,
  FamilySchema,
  type FamilyPolicySchema,
  Operation_Status,
  OperationSchema,
  PromoteImageRequestSchema,
  RollbackFamilyRequestSchema,
  SetFamilyPolicyRequestSchema,
  ShareImageRequestSchema,
  type DeprecateImageRequest,
  type Family,
  type GetFamilyRequest,
  type Notification as NotificationMessage,
  type Operation,
  type PromoteImageRequest,
  type RollbackFamilyRequest,
  type SetFamilyPolicyRequest,
  type ShareImageRequest,
} from "@imagesvc/proto";
import { jobPointer, storedReleaseRequest } from "@imagesvc/queue";
import { SpanKind, startStep } from "@imagesvc/telemetry";
import {
  checkProjectId,
  DEFAULT_EXCLUSION_LABEL,
  DEFAULT_SHARE_ROLE,
  DEPRECATION_STATES,
  deprecationTimes,
  invalidArgument,
  checkResourceName,
  validateDeprecateImageRequest,
  validatePromoteImageRequest,
  validateRollbackFamilyRequest,
  validateSetFamilyPolicyRequest,
  validateShareImageRequest,
  webhookUrlRefusal,
  type FieldViolation,
} from "@imagesvc/validation";
import { createHash, randomUUID } from "node:crypto";
import { familyLink, imageLink, newOperationName, recordRelease } from "@imagesvc/operations";
import { authorize } from "./access";
import type { ImageServiceDeps } from "./deps";
import { requestIdReused } from "./errors";
import { notificationOf } from "./notification";

/**
 * The release RPCs: PromoteImage, RollbackFamily, DeprecateImage, ShareImage (each recorded as
 * a PENDING operation and queued, as CreateImage is; the worker runs them, libs/lifecycle
 * decides) and SetFamilyPolicy (stored at once, answered with a DONE operation). Each needs the
 * `release` action on the project. Validation first: nothing reaches Redis before it passes.
 */

interface Accept<S extends DescMessage> {
  readonly schema: S;
  readonly req: MessageShape<S> & {
    readonly project: string;
    readonly requestId: string;
    readonly notification?: NotificationMessage | undefined;
  };
  readonly violations: FieldViolation[];
  /** Compute's operationType for it. */
  readonly type: "promote" | "rollback" | "deprecate" | "share";
  readonly targetLink: string;
  readonly release: (now: number) => ReleaseRequest | ({ kind: "share" } & ShareRequest);
  readonly what: string;
}

/** Validates, authorizes, records the operation PENDING with its request, and queues its job. */
async function accept<S extends DescMessage>(
  deps: ImageServiceDeps,
  ctx: HandlerContext,
  a: Accept<S>,
): Promise<Operation> {
  const { req } = a;
  const hook = req.notification;
  const refusal =
    hook === undefined || a.violations.length > 0
      ? undefined
      : webhookUrlRefusal(hook.url, deps.webhookPolicy);
  if (refusal !== undefined) a.violations.push({ field: "notification.url", description: refusal });
  if (a.violations.length > 0) throw invalidArgument(a.violations);
  const caller = authorize(deps, ctx, req.project, "release", "release images in");
  const step = startStep(
    a.what,
    ctx.requestHeader.get("traceparent") ?? undefined,
    SpanKind.SERVER,
  );
  try {
    const requestId = req.requestId === "" ? randomUUID() : req.requestId.toLowerCase();
    const fingerprint = fingerprintOf(a.schema, { ...req, requestId });
    const notify = notificationOf(hook);
    const result = await recordRelease(deps.store, {
      project: req.project,
      type: a.type,
      requestId,
      fingerprint,
      targetLink: a.targetLink,
      user: caller,
      release: a.release(Date.now()),
      traceparent: step.traceparent,
      ...(notify !== undefined && { notify }),
      enqueue: (project, name) => deps.queue.add(jobPointer(project, name)),
    });
    if (!result.created && result.fingerprint !== fingerprint)
      throw requestIdReused(requestId, result.operation.name);
    if (result.created)
      deps.log.info(
        {
          operation: result.operation.name,
          requestId,
          project: req.project,
          type: a.type,
          target: a.targetLink,
        },
        `${a.what} accepted`,
      );
    return result.operation;
  } finally {
    step.span.end();
  }
}

/** A digest of what a release request asks, so a reused request id can be told from a repeat. */
function fingerprintOf<S extends DescMessage>(schema: S, req: MessageShape<S>): string {
  return createHash("sha256").update(toBinary(schema, req)).digest("base64url");
}

export function promoteImage(deps: ImageServiceDeps) {
  return (req: PromoteImageRequest, ctx: HandlerContext) =>
    accept(deps, ctx, {
      schema: PromoteImageRequestSchema,
      req,
      violations: validatePromoteImageRequest(req),
      type: "promote",
      targetLink: imageLink(req.project, req.image),
      release: () => ({ kind: "promote", image: req.image }),
      what: "PromoteImage",
    });
}

export function rollbackFamily(deps: ImageServiceDeps) {
  return (req: RollbackFamilyRequest, ctx: HandlerContext) =>
    accept(deps, ctx, {
      schema: RollbackFamilyRequestSchema,
      req,
      violations: validateRollbackFamilyRequest(req),
      type: "rollback",
      targetLink: familyLink(req.project, req.family),
      release: () => ({
        kind: "rollback",
        family: req.family,
        ...(req.toImage !== "" && { toImage: req.toImage }),
        ...(req.obsolete && { obsolete: true }),
      }),
      what: "RollbackFamily",
    });
}

export function deprecateImage(deps: ImageServiceDeps) {
  return (req: DeprecateImageRequest, ctx: HandlerContext) =>
    accept(deps, ctx, {
      schema: DeprecateImageRequestSchema,
      req,
      violations: validateDeprecateImageRequest(req),
      type: "deprecate",
      targetLink: imageLink(req.project, req.image),
      release: (now) => deprecation(req, now),
      what: "DeprecateImage",
    });
}

/**
 * DeprecateImage as the worker runs it: the state now (the latest scheduled one already due,
 * when none is given), the times written on the image, and the steps still to come.
 */
export function deprecation(req: DeprecateImageRequest, now: number): ReleaseRequest {
  const at = deprecationTimes(req);
  const order = (s: string) => DEPRECATION_STATES.indexOf(s as (typeof DEPRECATION_STATES)[number]);
  const scheduled = (["DEPRECATED", "OBSOLETE", "DELETED"] as const).flatMap((state) => {
    const ms = at[state];
    return ms === undefined ? [] : [{ state, atMs: ms }];
  });
  // A time already past applies now: the state now is the later of the one asked and the
  // latest one due. Neither: the image keeps its state, and only its dates and schedule change.
  const due = scheduled.filter((s) => s.atMs <= now).at(-1)?.state;
  const asked = req.state === "" ? undefined : (req.state as (typeof DEPRECATION_STATES)[number]);
  const state =
    asked === undefined ? due : due === undefined || order(asked) >= order(due) ? asked : due;
  const steps: ScheduledStep[] = scheduled.filter(
    (s) => s.atMs > now && (state === undefined || order(s.state) > order(state)),
  );
  const iso = (ms: number | undefined) =>
    ms === undefined ? undefined : new Date(ms).toISOString();
  const times: DeprecationTimes = {
    ...(at.DEPRECATED !== undefined && { deprecated: iso(at.DEPRECATED) }),
    ...(at.OBSOLETE !== undefined && { obsolete: iso(at.OBSOLETE) }),
    ...(at.DELETED !== undefined && { deleted: iso(at.DELETED) }),
  };
  return {
    kind: "deprecate",
    image: req.image,
    ...(state !== undefined && { state }),
    replacement: req.replacement,
    times,
    steps,
  };
}

export function shareImage(deps: ImageServiceDeps) {
  return (req: ShareImageRequest, ctx: HandlerContext) =>
    accept(deps, ctx, {
      schema: ShareImageRequestSchema,
      req,
      violations: validateShareImageRequest(req),
      type: "share",
      targetLink: imageLink(req.project, req.image),
      release: () => ({
        kind: "share",
        image: req.image,
        members: [...new Set(req.members)],
        role: req.role === "" ? DEFAULT_SHARE_ROLE : req.role,
      }),
      what: "ShareImage",
    });
}

/**
 * SetFamilyPolicy: the policy is stored (or removed) at once, then recorded as a DONE operation
 * (operation_type `setFamilyPolicy`), so it is listed and idempotent by request id like every
 * release. A repeat stores the same policy again, harmlessly.
 */
export function setFamilyPolicy(deps: ImageServiceDeps) {
  return async (req: SetFamilyPolicyRequest, ctx: HandlerContext): Promise<Operation> => {
    const violations = validateSetFamilyPolicyRequest(req);
    if (violations.length > 0) throw invalidArgument(violations);
    const caller = authorize(deps, ctx, req.project, "release", "release images in");
    const requestId = req.requestId === "" ? randomUUID() : req.requestId.toLowerCase();
    const fingerprint = fingerprintOf(SetFamilyPolicyRequestSchema, { ...req, requestId });
    // A repeat answers with its operation, and a reused request id is refused, before the
    // policy is written again.
    const existing = await deps.store.forRequest(req.project, requestId);
    if (existing !== undefined) {
      const again = await deps.store.create(recordOf(existing, requestId, fingerprint, ""));
      if (!again.created && again.fingerprint !== fingerprint)
        throw requestIdReused(requestId, again.operation.name);
      return existing;
    }
    const now = new Date();
    const name = newOperationName(now);
    const p = req.policy;
    const policy = policyOf(p);
    await deps.familyPolicies.set(
      req.project,
      req.family,
      policy === undefined ? undefined : { policy, setBy: name, setMs: now.getTime() },
    );
    const message =
      p === undefined
        ? `family ${req.family} has no retention policy now`
        : `family ${req.family} keeps ${describePolicy(p)}`;
    const operation = create(OperationSchema, {
      kind: "compute#operation",
      name,
      project: req.project,
      operationType: "setFamilyPolicy",
      status: Operation_Status.DONE,
      progress: 100,
      statusMessage: message,
      clientOperationId: requestId,
      targetLink: familyLink(req.project, req.family),
      user: caller,
      insertTime: now.toISOString(),
      creationTimestamp: now.toISOString(),
      startTime: now.toISOString(),
      endTime: now.toISOString(),
    });
    const stored = storedReleaseRequest({
      project: req.project,
      operation: name,
      requestId,
      acceptedMs: now.getTime(),
      release: { kind: "setPolicy", family: req.family, policy: policyOf(p) },
    });
    const result = await deps.store.create(recordOf(operation, requestId, fingerprint, stored));
    if (!result.created && result.fingerprint !== fingerprint)
      throw requestIdReused(requestId, result.operation.name);
    deps.log.info({ operation: name, project: req.project, family: req.family }, message);
    return result.operation;
  };
}

/** A retention policy as the API shows it (a FamilyPolicy): a duration of 0 is left out. */
export function familyPolicyOf(p: RetentionPolicy): MessageInitShape<typeof FamilyPolicySchema> {
  return {
    keepNewest: p.keepNewest,
    ...(p.deprecateAfterMs > 0 && { deprecateAfter: durationFromMs(p.deprecateAfterMs) }),
    ...(p.deleteAfterMs > 0 && { deleteAfter: durationFromMs(p.deleteAfterMs) }),
    exclusionLabel: p.exclusionLabel,
  };
}

function policyOf(p: SetFamilyPolicyRequest["policy"]): RetentionPolicy | undefined {
  if (p === undefined) return undefined;
  return {
    keepNewest: p.keepNewest,
    deprecateAfterMs: p.deprecateAfter === undefined ? 0 : durationMs(p.deprecateAfter),
    deleteAfterMs: p.deleteAfter === undefined ? 0 : durationMs(p.deleteAfter),
    exclusionLabel: p.exclusionLabel === "" ? DEFAULT_EXCLUSION_LABEL : p.exclusionLabel,
  };
}

function recordOf(operation: Operation, requestId: string, fingerprint: string, request: string) {
  return {
    operation,
    requestId,
    fingerprint,
    request,
    notification: "",
    lifecycle: encodeReleaseState({
      release: { phase: "done", outcome: "released", message: operation.statusMessage },
    }),
  };
}

function describePolicy(p: NonNullable<SetFamilyPolicyRequest["policy"]>): string {
  const parts: string[] = [];
  if (p.keepNewest > 0) parts.push(`the newest ${p.keepNewest} images`);
  const days = (d: NonNullable<typeof p.deprecateAfter>) =>
    `${(durationMs(d) / 86_400_000).toPrecision(3).replace(/\.?0+$/, "")} days`;
  if (p.deprecateAfter !== undefined) parts.push(`deprecates images ${days(p.deprecateAfter)} old`);
  if (p.deleteAfter !== undefined)
    parts.push(`deletes images ${days(p.deleteAfter)} after they are OBSOLETE`);
  const label = p.exclusionLabel === "" ? DEFAULT_EXCLUSION_LABEL : p.exclusionLabel;
  return `${parts.join(", ")}; images labelled ${label} are left alone`;
}

/**
 * GetFamily: the family as Compute has it now (what images.getFromFamily resolves to, and every
 * image of the family by images.list), with the schedules the service will enact and the
 * family's retention policy. Read with the gateway's own credentials; the `read` action.
 */
export function getFamily(deps: ImageServiceDeps) {
  return async (req: GetFamilyRequest, ctx: HandlerContext): Promise<Family> => {
    const violations: FieldViolation[] = [];
    const project = checkProjectId(req.project);
    if (project !== undefined) violations.push({ field: "project", description: project });
    const family = checkResourceName(req.family, "family", "web");
    if (family !== undefined) violations.push({ field: "family", description: family });
    if (violations.length > 0) throw invalidArgument(violations);
    authorize(deps, ctx, req.project, "read", "read images of");
    const compute = deps.compute;
    if (compute === undefined)
      throw new ConnectError(
        "this gateway reads no families: it has no Compute client (set COMPUTE_ENDPOINT or Google credentials)",
        Code.FailedPrecondition,
      );
    const options = { signal: ctx.signal };
    let images;
    let current = "";
    try {
      [images, current] = await Promise.all([
        compute.listImages(req.project, { filter: `family = "${req.family}"` }, options),
        compute.getImageFromFamily(req.project, req.family, options).then(
          (i) => i.name,
          (e: unknown) => {
            if (e instanceof ComputeApiError && e.httpStatus === 404) return "";
            throw e;
          },
        ),
      ]);
    } catch (e) {
      if (e instanceof ComputeApiError)
        throw new ConnectError(
          `Compute answered HTTP ${e.httpStatus} ${e.reason}: ${e.message}`,
          e.httpStatus === 403 ? Code.PermissionDenied : Code.Unavailable,
        );
      throw e;
    }
    const names = images.map((i) => i.name);
    const schedules = await deps.schedules.getMany(req.project, names);
    const stored = await deps.familyPolicies.get(req.project, req.family);
    const newestFirst = images
      .map((image, i) => ({ image, schedule: schedules[i] }))
      .sort((a, b) => createdOf(b.image).localeCompare(createdOf(a.image)));
    return create(FamilySchema, {
      name: req.family,
      resolvesTo: current,
      images: newestFirst.map(({ image, schedule }) => {
        const d = (image["deprecated"] ?? {}) as Record<string, unknown>;
        const text = (k: string) => (typeof d[k] === "string" ? d[k] : "");
        return {
          name: image.name,
          status: image.status ?? "",
          creationTimestamp: createdOf(image),
          deprecated: {
            state: text("state") === "ACTIVE" ? "" : text("state"),
            replacement: text("replacement"),
            deprecated: text("deprecated"),
            obsolete: text("obsolete"),
            deleted: text("deleted"),
          },
          // The steps still to come: those past the image's state are done.
          schedule: (schedule?.steps ?? [])
            .filter((s) => order(s.state) > order(text("state") === "" ? "ACTIVE" : text("state")))
            .map((s) => ({
              state: s.state,
              time: timestampFromMs(s.atMs),
            })),
        };
      }),
      ...(stored !== undefined && {
        policy: familyPolicyOf(stored.policy),
      }),
    });
  };
}

const order = (state: string) =>
  DEPRECATION_STATES.indexOf(state as (typeof DEPRECATION_STATES)[number]);

const createdOf = (image: Record<string, unknown>) =>
  typeof image["creationTimestamp"] === "string" ? image["creationTimestamp"] : "";
