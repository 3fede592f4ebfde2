import { clone } from "@bufbuild/protobuf";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import { failedOperation } from "./operation-versions";
import type { ReleaseLifecycle } from "./release";
import type { ShareLifecycle } from "./share";

/**
 * A release operation (PromoteImage, RollbackFamily, DeprecateImage, a reconciler's step,
 * ShareImage) as its record keeps it and as callers see it: the lifecycle tagged by its machine
 * in the record's `lc` field, and the Operation versions each decision writes. Pure, as
 * `operation-versions.ts` is for CreateImage.
 */
export type ReleaseState =
  { readonly release: ReleaseLifecycle } | { readonly share: ShareLifecycle };

/** A release lifecycle's phase, whichever machine it is. */
export const phaseOf = (state: ReleaseState) =>
  "release" in state ? state.release.phase : state.share.phase;

export const encodeReleaseState = (state: ReleaseState): string => JSON.stringify(state);

/**
 * Reads a stored lifecycle as a release's, or undefined when it is not one (CreateImage's
 * lifecycle, or none). A release state it cannot read throws: guessing would risk a second call.
 */
export function decodeReleaseState(stored: string | undefined): ReleaseState | undefined {
  if (stored === undefined || (!stored.startsWith('{"release"') && !stored.startsWith('{"share"')))
    return undefined;
  const parsed = JSON.parse(stored) as Record<string, unknown>;
  const inner = (parsed["release"] ?? parsed["share"]) as { phase?: unknown } | undefined;
  if (typeof inner?.phase !== "string")
    throw new Error(`unreadable release state: ${stored.slice(0, 200)}`);
  return parsed as ReleaseState;
}

type AnyLifecycle = ReleaseLifecycle | ShareLifecycle;

/** How far a release is, 0-100, from its phase. */
function progressOf(lifecycle: AnyLifecycle): number {
  switch (lifecycle.phase) {
    case "accepted":
      return 0;
    case "reading":
      return 5;
    case "activating":
      return 10;
    case "writing":
      return 50;
    case "retiring":
      return 10 + Math.floor((80 * lifecycle.next) / Math.max(1, lifecycle.plan.retire.length));
    case "scheduling":
      return 95;
    case "done":
      return 100;
  }
}

/**
 * The version callers see after a step from phase `from` to `to` with status `message`, or
 * undefined when nothing they see changes. The first step out of `accepted` makes it RUNNING;
 * `done` makes it DONE: without an error when it did what was asked (or nothing was due), with
 * Compute's error shape when it was refused, failed or cancelled.
 */
export function releaseVersion(
  current: Operation,
  from: string,
  to: AnyLifecycle,
  message: string | undefined,
  now: Date,
): Operation | undefined {
  if (current.status === Operation_Status.DONE) return undefined;
  if (to.phase === "done") {
    if (to.outcome === "released" || to.outcome === "unchanged") {
      const next = clone(OperationSchema, current);
      next.status = Operation_Status.DONE;
      next.progress = 100;
      next.statusMessage = to.message;
      if (next.startTime === "") next.startTime = now.toISOString();
      next.endTime = now.toISOString();
      return next;
    }
    const error =
      to.outcome === "cancelled"
        ? { code: "CANCELLED", httpStatus: undefined }
        : (to.error ?? { code: "CONDITION_NOT_MET", httpStatus: 412 });
    return failedOperation(
      current,
      {
        code: error.code,
        message: to.message,
        ...(error.httpStatus !== undefined &&
          error.httpStatus > 0 && { httpStatus: error.httpStatus }),
      },
      now,
    );
  }
  const progress = Math.max(current.progress, progressOf(to));
  const starting = from === "accepted" && current.status === Operation_Status.PENDING;
  const text = message ?? current.statusMessage;
  if (!starting && text === current.statusMessage && progress === current.progress)
    return undefined;
  const next = clone(OperationSchema, current);
  if (starting) {
    next.status = Operation_Status.RUNNING;
    next.startTime = now.toISOString();
  }
  next.statusMessage = text;
  next.progress = progress;
  return next;
}

/**
 * A caller's cancel of a release: it succeeds only while no change has been sent to Compute
 * (`accepted`, or reading the family in its first round; a share only before it starts), as
 * CreateImage's does; a cancelled release cancelled again answers with itself. It is one
 * compare-and-set, so a worker planning the first change and a cancel cannot both win.
 */
export function cancelRelease(
  state: ReleaseState,
  operation: Operation,
  by: string,
  now: Date,
): { readonly state: ReleaseState; readonly operation: Operation } | { readonly refused: string } {
  const phase = phaseOf(state);
  const inner = "release" in state ? state.release : state.share;
  if (inner.phase === "done")
    return inner.outcome === "cancelled"
      ? { state, operation }
      : { refused: `operation ${operation.name} is already DONE` };
  // Reading the family changes nothing in Compute: until the first change is planned (and
  // unless an earlier round made changes), a cancel still means nothing was changed.
  const unchanged =
    phase === "accepted" ||
    ("release" in state &&
      state.release.phase === "reading" &&
      state.release.round === undefined &&
      state.release.target === undefined);
  if (!unchanged)
    return {
      refused: `operation ${operation.name} has started changing images in Compute; a release cannot be cancelled once it has (run another release to undo it)`,
    };
  const message = `cancelled by ${by}; no change was sent to Compute`;
  const done = { phase: "done", outcome: "cancelled", message } as const;
  const next = releaseVersion(operation, phase, done, message, now) ?? operation;
  return { state: "release" in state ? { release: done } : { share: done }, operation: next };
}
