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
import type { FamilyClaims } from "@imagesvc/operations";
import { sleep } from "@imagesvc/runtime";

export interface ReleaseDriverDeps {
  readonly compute: ComputeClient;
  readonly claims: FamilyClaims;
  readonly policy: ReleasePolicy;
  /** How long a family claim lasts without its holder's next step (it is extended at each read). */
  readonly claimTtlMs: number;
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
}

/**
 * Runs one release to DONE: asks `decideRelease`, commits the answer, performs its effect (claim
 * and read the family, images.deprecate, give the family up) and feeds the result back. The
 * rules are libs/lifecycle's; this is the loop and the calls, as process-job.ts is for CreateImage.
 */
export async function runRelease(
  deps: ReleaseDriverDeps,
  run: ReleaseRun,
): Promise<ReleaseLifecycle> {
  const { project, operation, request, signal } = run;
  let lifecycle = run.lifecycle;
  let event: ReleaseEvent = { type: "run" };
  /** The family this run has claimed (learned from the target for a promotion). */
  let family = request.kind === "rollback" ? request.family : undefined;
  for (;;) {
    const decision = decideRelease(request, run.requestId, lifecycle, event, deps.policy);
    await run.commit(decision);
    lifecycle = decision.lifecycle;
    const effect: ReleaseEffect = decision.effect;
    if (effect.kind === "none") return lifecycle;
    if (effect.kind === "releaseFamily") {
      const claimed = effect.family ?? family;
      if (claimed !== undefined) await deps.claims.release(project, claimed, operation);
      return lifecycle;
    }
    if (effect.delayMs > 0) await sleep(effect.delayMs, signal);
    try {
      if (effect.kind === "readFamily") {
        const read = await readFamily();
        if (read.type === "familyRead" && read.family !== undefined) family = read.family;
        event = read;
      } else {
        await deps.compute.deprecateImage(
          project,
          effect.image,
          effect.status === undefined
            ? undefined
            : {
                state: effect.status.state,
                replacement: `projects/${project}/global/images/${effect.status.replacement}`,
              },
          { requestId: effect.requestId, signal },
        );
        event = { type: "applied" };
      }
    } catch (e) {
      if (!(e instanceof ComputeApiError) || signal.aborted) throw e;
      event = { type: "failed", error: e };
    }
  }

  /** Claims the family and reads it; a promotion reads its target first to learn the family. */
  async function readFamily(): Promise<ReleaseEvent> {
    let name = family;
    let target: ComputeImage | undefined;
    if (request.kind === "promote") {
      try {
        target = await deps.compute.getImage(project, request.image, { signal });
      } catch (e) {
        if (e instanceof ComputeApiError && e.httpStatus === 404)
          return { type: "familyRead", family: undefined, images: [] };
        throw e;
      }
      name =
        typeof target["family"] === "string" && target["family"] !== ""
          ? target["family"]
          : undefined;
      if (name === undefined)
        return { type: "familyRead", family: undefined, images: [familyImage(target)] };
    }
    if (name === undefined) return { type: "familyRead", family: undefined, images: [] };
    const claim = await deps.claims.claim(project, name, operation, deps.claimTtlMs);
    if (!claim.claimed) return { type: "familyBusy", holder: claim.holder };
    family = name;
    const images = await deps.compute.listImages(
      project,
      { filter: `family = "${name}"` },
      { signal },
    );
    return { type: "familyRead", family: name, images: images.map(familyImage) };
  }
}

function familyImage(image: ComputeImage): FamilyImage {
  const deprecated = image["deprecated"] as { state?: string } | undefined;
  const state = deprecated?.state;
  return {
    name: image.name,
    status: image.status ?? "PENDING",
    creationTimestamp:
      typeof image["creationTimestamp"] === "string" ? image["creationTimestamp"] : "",
    ...((state === "DEPRECATED" || state === "OBSOLETE" || state === "DELETED") && { state }),
  };
}
