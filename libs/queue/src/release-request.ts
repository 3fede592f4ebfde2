import type { ReleaseRequest, RetentionPolicy, ShareRequest } from "@imagesvc/lifecycle";
import { InvalidJobError } from "./errors";
import type { Notification } from "./stored-request";

/**
 * A release operation's request as its record keeps it (the `rq` field, as CreateImage's
 * StoredRequest): what any worker runs it from. Tagged `kind: "release"` with its own version,
 * so a worker of a release before releases existed refuses it (it knows no such request) rather
 * than inserting anything, and the sweeper queues it again for one that reads it.
 */
export interface StoredReleaseRequestV1 {
  readonly kind: "release";
  readonly v: 1;
  readonly project: string;
  readonly operation: string;
  /** The operation's request id; each Compute call's is derived from it (`requestIdOf`). */
  readonly requestId: string;
  /**
   * What to do: a release of a family or image, or a share; or what SetFamilyPolicy stored (its
   * record is DONE at once: nothing runs it, the history shows it).
   */
  readonly release:
    | ReleaseRequest
    | ({ readonly kind: "share" } & ShareRequest)
    | {
        readonly kind: "setPolicy";
        readonly family: string;
        readonly policy: RetentionPolicy | undefined;
      };
  readonly traceparent?: string;
  readonly acceptedMs: number;
  readonly notify?: Notification;
}

export type ReleaseJob = StoredReleaseRequestV1;

/** A stored request or its view, parsed, if it is a release's; undefined otherwise. */
export function releaseRequestView(json: string): ReleaseJob | undefined {
  if (json === "") return undefined;
  try {
    const parsed = JSON.parse(json) as { kind?: unknown };
    return parsed.kind === "release" ? parseReleaseRequest(json) : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a record's stored release request; InvalidJobError when it is not one this release reads. */
export function parseReleaseRequest(json: string): ReleaseJob {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (e) {
    throw new InvalidJobError(
      `the stored release request is not JSON (${e instanceof Error ? e.message : String(e)})`,
    );
  }
  const job = data as Record<string, unknown> | null;
  if (typeof job !== "object" || job === null || job["kind"] !== "release")
    throw new InvalidJobError("the stored request is not a release");
  if (job["v"] !== 1)
    throw new InvalidJobError(
      `unknown release request version ${JSON.stringify(job["v"])}; this worker reads version 1`,
    );
  for (const field of ["project", "operation", "requestId"] as const)
    if (typeof job[field] !== "string" || job[field] === "")
      throw new InvalidJobError(`release request field ${field} is missing`);
  const release = job["release"] as { kind?: unknown } | null | undefined;
  const kinds = ["promote", "rollback", "deprecate", "retain", "share", "setPolicy"];
  if (typeof release !== "object" || release === null || !kinds.includes(String(release.kind)))
    throw new InvalidJobError(
      `release request field release is not one of ${kinds.join(", ")}: ${JSON.stringify(release)}`,
    );
  return data as ReleaseJob;
}

/** A new release request in its stored form (the one place that builds it). */
export function storedReleaseRequest(input: Omit<StoredReleaseRequestV1, "kind" | "v">): string {
  return JSON.stringify({ kind: "release", v: 1, ...input } satisfies StoredReleaseRequestV1);
}
