import { ComputeApiError, type ComputeClient, type ComputeImage } from "@imagesvc/compute";
import {
  decideRelease,
  type FamilyImage,
  type ReleaseDecision,
  type ReleaseEffect,
  type ReleaseEvent,
  type ReleaseLifecycle,
  type ReleasePolicy,
  type ReleaseRequest,
} from "@imagesvc/lifecycle";
import type { FamilyClaims, ReleaseSchedules, RolledBack } from "@imagesvc/operations";
import { Operation_Status, type Operation } from "@imagesvc/proto";
import { sleep } from "@imagesvc/runtime";

export interface ReleaseDriverDeps {
  readonly compute: ComputeClient;
  readonly claims: FamilyClaims;
  readonly schedules: ReleaseSchedules;
  /** The images rollbacks retired, which a rollback does not go back to by default. */
  readonly rolledBack?: RolledBack;
  readonly policy: ReleasePolicy;
  /** How long a family claim lasts without its holder's next step (it is extended at each). */
  readonly claimTtlMs: number;
  /**
   * POSTs a promotion's release check, signed as webhooks are, once: the answer's HTTP status,
   * or 0 with why when none came. Without it, a promotion with a check fails its job (the
   * worker has no WEBHOOK_SECRET_FILE to sign with).
   */
  readonly check?: (
    url: string,
    id: string,
    data: Record<string, unknown>,
  ) => Promise<{ readonly status: number; readonly reason?: string }>;
  /** The JSON of an operation of the project, for the release check's body. */
  readonly operationJson?: (
    project: string,
    operation: string,
  ) => Promise<Record<string, unknown> | undefined>;
  /** How an operation of the project ended, for a promotion that waits for its CreateImage. */
  readonly outcomeOf?: (
    project: string,
    operation: string,
  ) => Promise<"open" | "failed" | "missing" | "succeeded">;
}

/**
 * Thrown by a run's `commit` when another writer moved the operation on (a cancel): the run
 * gives its claim up and stops.
 */
export class CommitRefused extends Error {}

/**
 * Thrown when a promotion waits for its CreateImage (still running): the job is put back in the
 * queue for `delayMs` rather than holding a worker's slot for as long as an import takes.
 */
export class WaitLater extends Error {
  constructor(readonly delayMs: number) {
    super(`waiting ${delayMs} ms for the CreateImage this promotion follows`);
  }
}

export interface ReleaseRun {
  readonly project: string;
  /** The operation's name: what holds the family's claim. */
  readonly operation: string;
  /** The operation's request id, from which each call's is derived. */
  readonly requestId: string;
  readonly request: ReleaseRequest;
  /** The committed state to resume from (a re-run), or the start. */
  readonly lifecycle: ReleaseLifecycle;
  /**
   * Commits a decision before its effect is performed (the operation store's compare-and-set in
   * the worker); a re-run resumes from the last one committed.
   */
  readonly commit: (decision: ReleaseDecision) => Promise<void>;
  readonly signal: AbortSignal;
  /** Extra headers on each Compute call (the job's traceparent). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Wait for a CreateImage by throwing WaitLater (the job goes back to the queue), not in place. */
  readonly waitInQueue?: boolean;
}

/**
 * Runs one release to DONE: asks `decideRelease`, commits the answer, performs its effect (claim
 * and read the family, images.deprecate or images.delete, record a schedule, give the family up)
 * and feeds the result back. The rules are libs/lifecycle's; this is the loop and the calls, as
 * process-job.ts is for CreateImage. The family's claim is extended before every call: one that
 * lapsed (this worker paused past it, or died and its job was taken again late) sends the release
 * back to read the family, under a new claim, in a new round of request ids.
 */
export async function runRelease(
  deps: ReleaseDriverDeps,
  run: ReleaseRun,
): Promise<ReleaseLifecycle> {
  const { project, operation, request, signal } = run;
  const options = { signal, ...(run.headers !== undefined && { headers: run.headers }) };
  let lifecycle = run.lifecycle;
  let event: ReleaseEvent = { type: "run" };
  /**
   * What this run holds the claim on: the family (learned from the image for a promotion or a
   * deprecation), or, for an image of no family, `@IMAGE` (no family name starts with @), so that
   * two deprecations of one such image are serialised too.
   */
  const alone = request.kind === "deprecate" ? `@${request.image}` : undefined;
  let family =
    request.kind === "rollback" || request.kind === "retain"
      ? request.family
      : "plan" in lifecycle
        ? (lifecycle.plan.family ?? alone)
        : undefined;
  let resumed = true;
  for (;;) {
    let decision = decideRelease(request, run.requestId, lifecycle, event, deps.policy);
    // A DONE that says what the family resolves to is committed under the claim too: one that
    // lapsed after the last call may have let another release change the family since.
    if (
      decision.lifecycle.phase === "done" &&
      decision.lifecycle.outcome === "released" &&
      family !== undefined &&
      !(await deps.claims.hold(project, family, operation, deps.claimTtlMs))
    ) {
      event = { type: "familyBusy", holder: "nobody: this release's claim lapsed" };
      decision = decideRelease(request, run.requestId, lifecycle, event, deps.policy);
    }
    try {
      await run.commit(decision);
    } catch (e) {
      if (e instanceof CommitRefused && family !== undefined)
        await deps.claims.release(project, family, operation).catch(() => undefined);
      throw e;
    }
    lifecycle = decision.lifecycle;
    const effect: ReleaseEffect = decision.effect;
    if (effect.kind === "none") {
      // Only DONE asks for nothing; anything else is an event the state cannot take (a bug).
      if (lifecycle.phase !== "done")
        throw new Error(`the release stopped in phase ${lifecycle.phase} on event ${event.type}`);
      return lifecycle;
    }
    if (effect.kind === "releaseFamily") {
      const claimed = effect.family ?? family;
      if (claimed !== undefined) await deps.claims.release(project, claimed, operation);
      return lifecycle;
    }
    // Waiting for a CreateImage (an import may take hours) happens in the queue, not here.
    if (effect.kind === "readFamily" && event.type === "awaited" && run.waitInQueue === true)
      throw new WaitLater(effect.delayMs);
    // A run resumed from the queue has waited its pause there already.
    const waited = resumed && run.waitInQueue === true && effect.kind === "readFamily";
    resumed = false;
    if (effect.delayMs > 0 && !waited) await sleep(effect.delayMs, signal);
    try {
      if (effect.kind === "readFamily") {
        const read = await readFamily();
        if (read.type === "familyRead" && read.family !== undefined) family = read.family;
        event = read;
        continue;
      }
      // Every call is made under the claim the family was read under; one that lapsed (this
      // worker paused past it) means the read may be stale: read again.
      // (The release check changes nothing in Compute: it needs no claim.)
      if (
        effect.kind !== "check" &&
        family !== undefined &&
        !(await deps.claims.hold(project, family, operation, deps.claimTtlMs))
      ) {
        event = { type: "familyBusy", holder: "nobody: this release's claim lapsed" };
        continue;
      }
      event = await perform(effect);
    } catch (e) {
      if (!(e instanceof ComputeApiError) || signal.aborted) throw e;
      event = { type: "failed", error: e };
    }
  }

  async function perform(
    effect: Exclude<ReleaseEffect, { kind: "none" | "releaseFamily" | "readFamily" }>,
  ): Promise<ReleaseEvent> {
    switch (effect.kind) {
      case "deprecate": {
        const { status } = effect;
        const answer = await deps.compute.deprecateImage(
          project,
          effect.image,
          status === undefined
            ? undefined
            : {
                ...status,
                ...(status.replacement !== undefined && {
                  replacement: `projects/${project}/global/images/${status.replacement}`,
                }),
              },
          { ...options, requestId: effect.requestId },
        );
        await finished(answer);
        // An image made current again has no end of life until one is set again, and is no
        // longer one a rollback left.
        if (status === undefined) {
          await deps.schedules.clear(project, effect.image);
          if (family !== undefined && !family.startsWith("@"))
            await deps.rolledBack?.remove(project, family, effect.image);
        } else if (effect.rolledBack === true && family !== undefined)
          await deps.rolledBack?.add(project, family, effect.image);
        return { type: "applied" };
      }
      case "delete":
        await finished(
          await deps.compute.deleteImage(project, effect.image, {
            ...options,
            requestId: effect.requestId,
          }),
        );
        return { type: "applied" };
      case "check": {
        if (deps.check === undefined)
          throw new Error("this worker has no WEBHOOK_SECRET_FILE to sign the release check with");
        const about =
          request.kind === "promote" && request.afterOperation !== undefined
            ? await deps.operationJson?.(project, request.afterOperation)
            : undefined;
        const answer = await deps.check(
          effect.url,
          `${operation}:check`,
          about ?? { name: operation },
        );
        return { type: "checked", ...answer };
      }
      case "schedule": {
        if (request.kind !== "deprecate") return { type: "applied" };
        if (effect.steps.length === 0) await deps.schedules.clear(project, effect.image);
        else
          await deps.schedules.set(project, effect.image, {
            by: operation,
            steps: effect.steps,
            replacement: request.replacement,
            times: request.times,
          });
        return { type: "applied" };
      }
    }
  }

  /**
   * Waits for a mutation's Compute operation to be DONE (images.delete takes a while); its error
   * is the call's. Compute answers a repeat of the same requestId with the first call's operation.
   */
  async function finished(answer: Operation): Promise<void> {
    let op = answer;
    if (op.status !== Operation_Status.DONE && op.name !== "")
      op = await deps.compute.followOperation(project, op.name, options);
    const error = op.error?.errors[0];
    if (error !== undefined)
      throw new ComputeApiError(op.httpErrorStatusCode || 400, error.code, error.message);
  }

  /** Claims the family and reads it; a promotion or deprecation reads its image first to learn the family. */
  async function readFamily(): Promise<ReleaseEvent> {
    // A promotion that waits for its CreateImage reads nothing before that is DONE.
    if (request.kind === "promote" && request.afterOperation !== undefined) {
      const outcome = (await deps.outcomeOf?.(project, request.afterOperation)) ?? "succeeded";
      if (outcome !== "succeeded")
        return { type: "awaited", operation: request.afterOperation, outcome };
    }
    // Its release check, once, before the family is read.
    if (
      request.kind === "promote" &&
      request.check !== undefined &&
      !(lifecycle.phase === "reading" && lifecycle.checked === true)
    )
      return { type: "checkDue" };
    let name = family;
    const single =
      request.kind === "promote" || request.kind === "deprecate" ? request.image : undefined;
    if (single !== undefined) {
      let image: ComputeImage;
      try {
        image = await deps.compute.getImage(project, single, options);
      } catch (e) {
        if (e instanceof ComputeApiError && e.httpStatus === 404)
          return { type: "familyRead", family: undefined, images: [], now: Date.now() };
        throw e;
      }
      name =
        typeof image["family"] === "string" && image["family"] !== "" ? image["family"] : undefined;
      if (name === undefined) {
        if (alone !== undefined) {
          const held = await deps.claims.claim(project, alone, operation, deps.claimTtlMs);
          if (!held.claimed) return { type: "familyBusy", holder: held.holder };
          family = alone;
        }
        return {
          type: "familyRead",
          family: undefined,
          images: await withSchedules([familyImage(image)]),
          now: Date.now(),
        };
      }
    }
    if (name === undefined)
      return { type: "familyRead", family: undefined, images: [], now: Date.now() };
    const claim = await deps.claims.claim(project, name, operation, deps.claimTtlMs);
    if (!claim.claimed) return { type: "familyBusy", holder: claim.holder };
    family = name;
    const images = await deps.compute.listImages(
      project,
      { filter: `family = "${name}"` },
      options,
    );
    const rolledBack = (await deps.rolledBack?.of(project, name)) ?? new Set<string>();
    return {
      type: "familyRead",
      family: name,
      images: (await withSchedules(images.map(familyImage))).map((i) =>
        rolledBack.has(i.name) ? { ...i, rolledBack: true } : i,
      ),
      now: Date.now(),
    };
  }

  /** The images with whose schedule each follows now (the service's record). */
  async function withSchedules(images: FamilyImage[]): Promise<FamilyImage[]> {
    const owners = await deps.schedules.owners(
      project,
      images.map((i) => i.name),
    );
    return images.map((image, i) => {
      const by = owners[i];
      return by === undefined ? image : { ...image, scheduledBy: by };
    });
  }
}

/** An image as the release lifecycle reads it. */
export function familyImage(image: ComputeImage): FamilyImage {
  const deprecated = (image["deprecated"] ?? {}) as Record<string, unknown>;
  const state = deprecated["state"];
  const text = (k: string) => {
    const v = deprecated[k];
    return typeof v === "string" && v !== "" ? v : undefined;
  };
  const times = {
    ...(text("deprecated") !== undefined && { deprecated: text("deprecated") }),
    ...(text("obsolete") !== undefined && { obsolete: text("obsolete") }),
    ...(text("deleted") !== undefined && { deleted: text("deleted") }),
  };
  const replacement = text("replacement");
  return {
    name: image.name,
    ...(replacement !== undefined && {
      replacement: replacement.slice(replacement.lastIndexOf("/") + 1),
    }),
    status: image.status ?? "PENDING",
    creationTimestamp:
      typeof image["creationTimestamp"] === "string" ? image["creationTimestamp"] : "",
    ...((state === "DEPRECATED" || state === "OBSOLETE" || state === "DELETED") && { state }),
    ...(Object.keys(times).length > 0 && { times }),
    ...(typeof image["labels"] === "object" &&
      image["labels"] !== null && { labels: image["labels"] as Record<string, string> }),
  };
}
