/**
 * The lifecycle's steps against the store: load an operation's lifecycle, decide with
 * libs/lifecycle's pure `decide`, and commit the decision atomically (a compare-and-set on the
 * lifecycle's sequence number, in write-operation.lua). The rules are libs/lifecycle's; this is
 * where they meet Redis.
 */
import { OperationGoneError } from "./errors";
import { decodeLifecycle, encodeLifecycle, type Decision, type Subject } from "@imagesvc/lifecycle";
import { Operation_Status } from "@imagesvc/proto";
import type { OperationStore, StoredOperation } from "./operation-store";

/** An operation's lifecycle as loaded from the store, with the sequence number to commit against. */
export interface LoadedSubject extends Subject {
  readonly seq: number;
  /** The stored request (libs/queue's StoredRequest JSON); "" once the operation is DONE. */
  readonly request: string;
  /** The request's webhook (libs/queue's Notification JSON); "" when it asked for none. */
  readonly notification: string;
}

/** The result of one step: the decision, and the subject as it now stands in the store. */
export interface Step {
  readonly decision: Decision;
  readonly subject: LoadedSubject;
}

/** Loads an operation's lifecycle, or undefined when the record is gone (expired). */
export async function loadSubject(
  store: OperationStore,
  project: string,
  name: string,
): Promise<LoadedSubject | undefined> {
  const stored = await store.getStored(project, name);
  return stored === undefined ? undefined : subjectOf(stored);
}

/** A stored CreateImage operation as its lifecycle's subject. */
export function subjectOf(stored: StoredOperation): LoadedSubject {
  const { operation } = stored;
  return {
    operation,
    lifecycle: decodeLifecycle(stored.lifecycle, {
      done: operation.status === Operation_Status.DONE,
      computeOperation: operation.computeOperation,
      createdMs: stored.createdMs,
    }),
    requestId: operation.clientOperationId,
    imageName: operation.targetLink.slice(operation.targetLink.lastIndexOf("/") + 1),
    seq: stored.seq,
    request: stored.request,
    notification: stored.notification,
  };
}

/** How one step decides: the lifecycle's `decide` on an event, bound to its policy. */
export type Decider = (subject: Subject) => Decision;

/**
 * Takes one step: decide on the stored state and commit the result atomically. When another
 * process moved the lifecycle on in between (the commit's compare-and-set failed), it loads again
 * and decides again on what is now there, so a cancel and a dispatch racing each other cannot
 * both win.
 */
export async function step(
  store: OperationStore,
  from: LoadedSubject,
  decider: Decider,
): Promise<Step> {
  let subject = from;
  for (;;) {
    const decision = decider(subject);
    const unchanged =
      decision.operation === undefined &&
      encodeLifecycle(decision.lifecycle) === encodeLifecycle(subject.lifecycle);
    if (unchanged) return { decision, subject };
    const result = await store.commit({
      project: subject.operation.project,
      name: subject.operation.name,
      expectedSeq: subject.seq,
      lifecycle: encodeLifecycle(decision.lifecycle),
      ...(decision.operation && { operation: decision.operation }),
    });
    if (result.status === "committed") {
      let operation = decision.operation ?? subject.operation;
      if (decision.operation !== undefined) {
        if (result.version !== undefined) operation.version = result.version;
        // Not a step forward for the record (another writer got further): read what is there.
        else operation = (await store.get(operation.project, operation.name)) ?? operation;
      }
      return {
        decision,
        subject: { ...subject, lifecycle: decision.lifecycle, operation, seq: result.seq },
      };
    }
    const reloaded = await loadSubject(store, subject.operation.project, subject.operation.name);
    if (result.status === "missing" || reloaded === undefined)
      throw new OperationGoneError(`operation ${subject.operation.name} is gone`);
    subject = reloaded;
  }
}
