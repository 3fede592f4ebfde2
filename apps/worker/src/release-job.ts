import { ComputeApiError } from "@imagesvc/compute";
import {
  decideShare,
  decodeReleaseState,
  encodeReleaseState,
  phaseOf,
  releaseVersion,
  type ReleaseLifecycle,
  type ReleaseState,
  type ShareEvent,
  type ShareLifecycle,
  type ShareRequest,
} from "@imagesvc/lifecycle";
import type { OperationStore, StoredOperation } from "@imagesvc/operations";
import { toJson } from "@bufbuild/protobuf";
import { Operation_Status, OperationSchema } from "@imagesvc/proto";
import {
  InvalidJobError,
  parseNotification,
  parseReleaseRequest,
  type ReleaseJob,
  type WebhookQueue,
} from "@imagesvc/queue";
import { sleep } from "@imagesvc/runtime";
import { SpanKind, startStep } from "@imagesvc/telemetry";
import { UnrecoverableError } from "bullmq";
import type { Logger } from "pino";
import { announcer } from "./announce";
import { CommitRefused, runRelease, type ReleaseDriverDeps } from "./release-driver";

/** The driver's (the operation's own reads are made here, from the store). */
export interface ReleaseJobDeps extends Omit<ReleaseDriverDeps, "outcomeOf" | "operationJson"> {
  readonly store: OperationStore;
  readonly log: Logger;
  readonly webhooks?: WebhookQueue;
}

/** Another writer moved the operation on (a cancel, or a stalled run of the same job): stop here. */
class Superseded extends CommitRefused {}

/** How a release job ended, for the worker's metrics. */
export type ReleaseJobOutcome = "succeeded" | "failed" | "cancelled" | "rejected" | "skipped";

/**
 * Runs one release operation's job from its record: the request it stores, the state it was
 * left in. Each decision is committed (compare-and-set on the lifecycle's sequence number) with
 * the version callers see, before its effect; each status the webhook asked for is announced once
 * reached. A re-run resumes from the committed state, as CreateImage's job does.
 */
export async function runReleaseJob(
  deps: ReleaseJobDeps,
  stored: StoredOperation,
  signal: AbortSignal,
): Promise<ReleaseJobOutcome> {
  const { operation } = stored;
  let job: ReleaseJob;
  let state: ReleaseState | undefined;
  try {
    state = decodeReleaseState(stored.lifecycle);
    // DONE (its request is gone from the record then): announce what was asked, and stop.
    if (state !== undefined && phaseOf(state) === "done") {
      await announcer(
        operation.name,
        parseNotification(stored.notification),
        deps.webhooks,
      )(operation);
      return "skipped";
    }
    job = parseReleaseRequest(stored.request);
  } catch (e) {
    if (e instanceof InvalidJobError || e instanceof SyntaxError)
      throw new UnrecoverableError((e as Error).message);
    throw e;
  }
  if (state === undefined) throw new UnrecoverableError("the record holds no release state");
  const notify = parseNotification(stored.notification) ?? job.notify;
  if (notify !== undefined && deps.webhooks === undefined)
    throw new UnrecoverableError("this worker has no WEBHOOK_SECRET_FILE to sign webhooks with");
  if (job.release.kind === "promote" && job.release.check !== undefined && deps.check === undefined)
    throw new UnrecoverableError(
      "this worker has no WEBHOOK_SECRET_FILE to sign the promotion's release check with",
    );
  const log = deps.log.child({
    operation: operation.name,
    project: job.project,
    release: job.release.kind,
  });
  const announce = announcer(operation.name, notify, deps.webhooks);
  const trace = startStep(`${job.release.kind} job`, job.traceparent, SpanKind.CONSUMER);
  let current = { seq: stored.seq, operation, state };
  /** Commits the next state and the version it makes, then announces it. */
  const commit = async (next: ReleaseState, message: string | undefined) => {
    const version = releaseVersion(
      current.operation,
      phaseOf(current.state),
      "release" in next ? next.release : next.share,
      message,
      new Date(),
    );
    const encoded = encodeReleaseState(next);
    if (version === undefined && encoded === encodeReleaseState(current.state)) return;
    const result = await deps.store.commit({
      project: job.project,
      name: operation.name,
      expectedSeq: current.seq,
      lifecycle: encoded,
      ...(version !== undefined && { operation: version }),
    });
    if (result.status !== "committed") {
      throw new Superseded(result.status);
    }
    const written =
      version === undefined
        ? current.operation
        : result.version === undefined
          ? ((await deps.store.get(job.project, operation.name)) ?? version)
          : Object.assign(version, { version: result.version });
    current = { seq: result.seq, operation: written, state: next };
    await announce(written);
  };
  try {
    // A status reached before this run (a re-run after a crash) is announced now.
    await announce(current.operation);
    if (phaseOf(state) === "done") return "skipped";
    const headers = { traceparent: trace.traceparent };
    if (job.release.kind === "share") {
      const release = job.release;
      if (!("share" in state))
        throw new UnrecoverableError("a share's record holds no share state");
      const end = await runShare(deps, job.project, release, state.share, signal, headers, (l, m) =>
        commit({ share: l }, m),
      );
      return outcomeOf(end.phase === "done" ? end.outcome : "failed");
    }
    if (!("release" in state))
      throw new UnrecoverableError("a release's record holds a share state");
    if (job.release.kind === "setPolicy")
      throw new UnrecoverableError(
        "a SetFamilyPolicy record is DONE when written; nothing runs it",
      );
    const end: ReleaseLifecycle = await runRelease(
      {
        ...deps,
        operationJson: async (project, name) => {
          const op = await deps.store.get(project, name);
          return op === undefined
            ? undefined
            : (toJson(OperationSchema, op) as Record<string, unknown>);
        },
        outcomeOf: async (project, name) => {
          const op = await deps.store.get(project, name);
          if (op === undefined) return "missing";
          if (op.status !== Operation_Status.DONE) return "open";
          return op.error === undefined ? "succeeded" : "failed";
        },
      },
      {
        project: job.project,
        operation: operation.name,
        requestId: job.requestId,
        request: job.release,
        lifecycle: state.release,
        signal,
        headers,
        waitInQueue: true,
        commit: (decision) => commit({ release: decision.lifecycle }, decision.message),
      },
    );
    const outcome = end.phase === "done" ? end.outcome : "failed";
    log.info({ outcome, message: end.phase === "done" ? end.message : "" }, "release DONE");
    return outcomeOf(outcome);
  } catch (e) {
    if (e instanceof Superseded) {
      log.info("another writer moved the release on (a cancel?); stopping");
      return "skipped";
    }
    throw e;
  } finally {
    trace.span.end();
  }
}

function outcomeOf(outcome: string): ReleaseJobOutcome {
  switch (outcome) {
    case "released":
    case "unchanged":
      return "succeeded";
    case "refused":
      return "rejected";
    case "cancelled":
      return "cancelled";
    default:
      return "failed";
  }
}

/** ShareImage's loop: decideShare, commit, read or write the image's IAM policy, feed back. */
async function runShare(
  deps: ReleaseJobDeps,
  project: string,
  request: ShareRequest,
  from: ShareLifecycle,
  signal: AbortSignal,
  headers: Readonly<Record<string, string>>,
  commit: (lifecycle: ShareLifecycle, message: string | undefined) => Promise<void>,
): Promise<ShareLifecycle> {
  const options = { signal, headers };
  let lifecycle = from;
  let event: ShareEvent = { type: "run" };
  for (;;) {
    const decision = decideShare(request, lifecycle, event, deps.policy.retryDelay);
    await commit(decision.lifecycle, decision.message);
    lifecycle = decision.lifecycle;
    const effect = decision.effect;
    if (effect.kind === "none") return lifecycle;
    if (effect.delayMs > 0) await sleep(effect.delayMs, signal);
    try {
      if (effect.kind === "readPolicy") {
        const policy = await deps.compute.getImageIamPolicy(project, request.image, options);
        event = { type: "policyRead", policy: { ...policy, etag: policy.etag } };
      } else {
        await deps.compute.setImageIamPolicy(project, request.image, effect.policy, options);
        event = { type: "applied" };
      }
    } catch (e) {
      if (!(e instanceof ComputeApiError) || signal.aborted) throw e;
      event = { type: "failed", error: e };
    }
  }
}
