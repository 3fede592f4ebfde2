import { InvalidJobError } from "./errors";
import { checkStoredRequest, type StoredRequest } from "./stored-request";

/**
 * A CreateImage job's payload: which operation to run, nothing more. The operation's record is
 * the one source of truth (its request, lifecycle and versions), so the job holds no copy of the
 * image or its secrets, and every run reads what the record holds now.
 */
export interface JobPointer {
  readonly v: 4;
  readonly project: string;
  /** This service's operation name; also the job id. */
  readonly operation: string;
}

export const jobPointer = (project: string, operation: string): JobPointer => ({
  v: 4,
  project,
  operation,
});

/** A job's payload as this release reads it: where its operation is, whoever queued it. */
export interface JobData {
  readonly project: string;
  readonly operation: string;
  /**
   * A previous release queued the whole request (versions 1 to 3) in the job. The record holds
   * it too; this copy matters only for its secrets, which are scrubbed once the operation is DONE.
   */
  readonly legacy?: StoredRequest;
}

/**
 * Reads a job's payload: a pointer (version 4), or a previous release's full request (1 to 3).
 * Throws InvalidJobError for anything else, such as a newer release's payload.
 */
export function parseJobData(data: unknown): JobData {
  const v = typeof data === "object" && data !== null ? (data as { v?: unknown }).v : undefined;
  if (v === 1 || v === 2 || v === 3) {
    const legacy = checkStoredRequest(data);
    return { project: legacy.project, operation: legacy.operation, legacy };
  }
  if (v !== 4)
    throw new InvalidJobError(
      `unknown job version ${JSON.stringify(v)}; this worker reads versions 1 to 4`,
    );
  const { project, operation } = data as Record<string, unknown>;
  if (
    typeof project !== "string" ||
    project === "" ||
    typeof operation !== "string" ||
    operation === ""
  )
    throw new InvalidJobError("job fields project and operation are missing");
  return { project, operation };
}
