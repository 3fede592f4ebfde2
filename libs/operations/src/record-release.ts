import { create } from "@bufbuild/protobuf";
import { encodeReleaseState } from "@imagesvc/lifecycle";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import {
  storedReleaseRequest,
  type Notification,
  type StoredReleaseRequestV1,
} from "@imagesvc/queue";
import { newOperationName } from "./operation-name";
import type { OperationStore } from "./operation-store";

const COMPUTE = "https://compute.googleapis.com/compute/v1/projects";
/** An image's URL, as an operation's `targetLink`. */
export const imageLink = (project: string, image: string) =>
  `${COMPUTE}/${project}/global/images/${image}`;
/** A family as Compute's own URL names it (images.getFromFamily's path). */
export const familyLink = (project: string, family: string) =>
  `${COMPUTE}/${project}/global/images/family/${family}`;

export interface NewRelease {
  readonly project: string;
  /** Compute's operationType for it: promote, rollback, deprecate, delete, share, retain. */
  readonly type: string;
  readonly requestId: string;
  readonly fingerprint: string;
  readonly targetLink: string;
  /** Who asked: the caller, or the reconciler. */
  readonly user: string;
  /** What the operation does, as its stored request (libs/queue's release request) keeps it. */
  readonly release: StoredReleaseRequestV1["release"];
  /** The caller's W3C trace context, which the job's Compute calls carry on. */
  readonly traceparent?: string;
  /** The webhook it asked for, if any. */
  readonly notify?: Notification;
  /** Queues the operation's job (BullMQ ignores a job id it has). */
  readonly enqueue: (project: string, name: string) => Promise<void>;
}

export type RecordedRelease =
  | { readonly created: true; readonly operation: Operation }
  | { readonly created: false; readonly operation: Operation; readonly fingerprint: string };

/**
 * Records a release operation PENDING in its `accepted` phase with its request (one script, with
 * its request id), and queues its job: what the gateway's release RPCs and the worker's
 * reconciler both do. A request id seen before answers with its operation (and heals a lost job
 * while it is PENDING); the caller compares fingerprints.
 */
export async function recordRelease(
  store: OperationStore,
  input: NewRelease,
): Promise<RecordedRelease> {
  const now = new Date();
  const name = newOperationName(now);
  const operation = create(OperationSchema, {
    kind: "compute#operation",
    name,
    project: input.project,
    operationType: input.type,
    status: Operation_Status.PENDING,
    clientOperationId: input.requestId,
    targetLink: input.targetLink,
    user: input.user,
    insertTime: now.toISOString(),
    creationTimestamp: now.toISOString(),
  });
  const result = await store.create({
    operation,
    requestId: input.requestId,
    fingerprint: input.fingerprint,
    request: storedReleaseRequest({
      project: input.project,
      operation: name,
      requestId: input.requestId,
      release: input.release,
      ...(input.traceparent !== undefined && { traceparent: input.traceparent }),
      acceptedMs: now.getTime(),
      ...(input.notify !== undefined && { notify: input.notify }),
    }),
    notification: input.notify === undefined ? "" : JSON.stringify(input.notify),
    lifecycle: encodeReleaseState(
      // A share runs its own machine (libs/lifecycle share.ts); every other release, the release one.
      input.release.kind === "share"
        ? { share: { phase: "accepted" } }
        : { release: { phase: "accepted" } },
    ),
  });
  if (!result.created) {
    if (
      result.operation.status === Operation_Status.PENDING &&
      result.fingerprint === input.fingerprint
    )
      await input.enqueue(input.project, result.operation.name);
    return { created: false, operation: result.operation, fingerprint: result.fingerprint };
  }
  await input.enqueue(input.project, name);
  return { created: true, operation: result.operation };
}
