import { toJson, type JsonObject } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  cancelRelease,
  decideCancel,
  decodeReleaseState,
  encodeReleaseState,
} from "@imagesvc/lifecycle";
import {
  abortable,
  loadSubject,
  OperationGoneError,
  step,
  type LoadedSubject,
} from "@imagesvc/operations";
import { OperationSchema, type CancelOperationRequest, type Operation } from "@imagesvc/proto";
import {
  deliveryFor,
  jobPointer,
  parseNotification,
  parseStoredRequest,
  type Notification,
} from "@imagesvc/queue";
import { authorize, checkRead } from "./access";
import type { ImageServiceDeps } from "./deps";
import { notCancellable, notFound } from "./errors";

/**
 * CancelOperation: succeeds only while no insert has been dispatched (the lifecycle's `accepted`
 * phase), because Compute cannot cancel an image insert. The cancel is one compare-and-set step
 * against the stored lifecycle, so it is atomic against a worker dispatching the insert: one of
 * the two wins, and the loser sees what the winner did. Otherwise FAILED_PRECONDITION says why.
 */
export function cancelOperation(deps: ImageServiceDeps) {
  return async (req: CancelOperationRequest, ctx: HandlerContext): Promise<Operation> => {
    checkRead(deps, req.project, req.operation, ctx);
    const caller = authorize(deps, ctx, req.project, "cancel", "cancel operations in");
    const stored = await abortable(deps.store.getStored(req.project, req.operation), ctx.signal);
    if (stored === undefined) throw notFound(req.project, req.operation);
    if (decodeReleaseState(stored.lifecycle) !== undefined)
      return cancelReleaseOperation(deps, req, caller);
    const subject = await abortable(
      loadSubject(deps.store, req.project, req.operation),
      ctx.signal,
    );
    if (subject === undefined) throw notFound(req.project, req.operation);
    // What the request asked of webhooks, read once; `undefined` as "unreadable" means only a
    // worker can tell, so the job must stay.
    const notify = readNotify(deps, subject);
    // Whoever commits the cancel must leave a way to announce it: the job. If it is missing (a
    // gateway died between recording and queueing), queue it before the commit, so a gateway
    // dying right after the commit still leaves a worker to queue the DONE delivery. Only where
    // the cancel can succeed (nothing dispatched yet), and held back a few seconds, so that the
    // cancel commits before any worker could take the job and dispatch.
    const wantsDone = notify === "unreadable" || notify?.on.includes("DONE") === true;
    if (subject.lifecycle.phase === "accepted" && wantsDone)
      await ensureJob(deps, req.project, req.operation);
    let taken;
    try {
      const now = Date.now();
      taken = await step(deps.store, subject, (s) => decideCancel(s, caller, now));
    } catch (e) {
      if (e instanceof OperationGoneError) throw notFound(req.project, req.operation);
      throw e;
    }
    if (taken.decision.refused !== undefined) throw notCancellable(taken.decision.refused);
    const { operation } = taken.subject;
    // The DONE webhook the request asked for is queued before the job goes. If this gateway dies
    // in between, the job is still there, and the worker that runs it sees DONE and queues the
    // same delivery (same id): at least once either way. A retried cancel queues it again.
    if (await announced(deps, notify, operation)) {
      // The job, if still queued, can go; if a worker holds it, it sees DONE and skips.
      await deps.queue.remove(req.operation).catch((e: unknown) => {
        deps.log.warn({ err: e, operation: req.operation }, "could not remove a cancelled job");
      });
    }
    deps.log.info({ operation: req.operation, project: req.project }, "operation cancelled");
    return operation;
  };
}

/**
 * A release's cancel: one compare-and-set against its stored state, as CreateImage's, so a worker
 * starting it and a cancel racing cannot both win. Only before its first Compute call.
 */
async function cancelReleaseOperation(
  deps: ImageServiceDeps,
  req: CancelOperationRequest,
  caller: string,
): Promise<Operation> {
  for (;;) {
    const stored = await deps.store.getStored(req.project, req.operation);
    const state = decodeReleaseState(stored?.lifecycle);
    if (stored === undefined || state === undefined) throw notFound(req.project, req.operation);
    const decided = cancelRelease(state, stored.operation, caller, new Date());
    if ("refused" in decided) throw notCancellable(decided.refused);
    if (decided.operation === stored.operation) return stored.operation;
    const wantsDone = parseNotification(stored.notification)?.on.includes("DONE") === true;
    if (wantsDone) await ensureJob(deps, req.project, req.operation);
    const result = await deps.store.commit({
      project: req.project,
      name: req.operation,
      expectedSeq: stored.seq,
      lifecycle: encodeReleaseState(decided.state),
      operation: decided.operation,
    });
    if (result.status === "missing") throw notFound(req.project, req.operation);
    if (result.status !== "committed") continue;
    const operation = (await deps.store.get(req.project, req.operation)) ?? decided.operation;
    if (await announced(deps, parseNotification(stored.notification), operation))
      await deps.queue.remove(req.operation).catch((e: unknown) => {
        deps.log.warn({ err: e, operation: req.operation }, "could not remove a cancelled job");
      });
    deps.log.info({ operation: req.operation, project: req.project }, "release cancelled");
    return operation;
  }
}

/** The webhook the operation's record asks for, or "unreadable" (logged) when it cannot be read. */
function readNotify(
  deps: ImageServiceDeps,
  subject: LoadedSubject,
): Notification | undefined | "unreadable" {
  try {
    return (
      parseNotification(subject.notification) ??
      (subject.request === "" ? undefined : parseStoredRequest(subject.request).notify)
    );
  } catch (e) {
    deps.log.warn(
      { err: e, operation: subject.operation.name },
      "cannot read the operation's webhook; keeping its job for a worker to announce",
    );
    return "unreadable";
  }
}

/** How long a job queued by a cancel waits: far longer than the commit that follows it. */
const ANNOUNCE_JOB_DELAY_MS = 5000;

/** Queues the operation's job unless a worker will run it already. */
async function ensureJob(deps: ImageServiceDeps, project: string, operation: string) {
  const [status] = await deps.queue.statuses([operation]);
  if (status === "missing" || status === "finished")
    await deps.queue.requeue(jobPointer(project, operation), { delayMs: ANNOUNCE_JOB_DELAY_MS });
}

/**
 * Queues the DONE delivery of a cancelled operation, if its request asked for one. True when
 * nothing is left for the job to announce; false when only the job can (this gateway has no
 * webhook queue, or cannot read what the record says of the webhook), so the job must stay for
 * a worker to run.
 */
async function announced(
  deps: ImageServiceDeps,
  notify: Notification | undefined | "unreadable",
  operation: Operation,
) {
  if (notify === "unreadable") return false;
  const json = toJson(OperationSchema, operation) as JsonObject;
  const delivery = deliveryFor(notify, "DONE", { name: operation.name, json });
  if (delivery === undefined) return true;
  if (deps.webhooks === undefined) return false;
  await deps.webhooks.ensure(delivery);
  return true;
}
