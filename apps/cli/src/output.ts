import { toJsonString } from "@bufbuild/protobuf";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";

/** One NDJSON line: the Operation in proto JSON (Compute's field names). */
export const ndjson = (op: Operation) => `${toJsonString(OperationSchema, op)}\n`;

/** One human line per state: `operation-… RUNNING 40% (v3)`. */
export function statusLine(op: Operation): string {
  const status = Operation_Status[op.status];
  const outcome =
    op.status === Operation_Status.DONE ? (op.error === undefined ? " ok" : " FAILED") : "";
  return `${op.name} ${status} ${op.progress}%${outcome} (v${op.version})\n`;
}

/** Compute's error lines of a failed operation, as gcloud prints them. */
export function errorLines(op: Operation): string {
  const lines = (op.error?.errors ?? []).map(
    (e) => ` - ${e.code}: ${e.message}${e.location === "" ? "" : ` (at ${e.location})`}`,
  );
  const http =
    op.httpErrorStatusCode === 0 ? "" : ` (HTTP ${op.httpErrorStatusCode} ${op.httpErrorMessage})`;
  return `ERROR: operation ${op.name} failed${http}:\n${lines.join("\n")}\n`;
}

/** A table row for `images list`. */
/** The header of `list`'s rows, aligned with them. */
export function listHeader(nameWidth: number): string {
  return `${"OPERATION".padEnd(nameWidth)}  ${"STATUS".padEnd(7)}  ${"PROG".padStart(4)}  IMAGE  RESULT\n`;
}

export function listRow(op: Operation): string {
  const image = op.targetLink.slice(op.targetLink.lastIndexOf("/") + 1);
  const outcome =
    op.status !== Operation_Status.DONE
      ? ""
      : op.error === undefined
        ? "ok"
        : (op.error.errors[0]?.code ?? "error");
  return `${op.name}  ${Operation_Status[op.status].padEnd(7)}  ${String(op.progress).padStart(3)}%  ${image}  ${outcome}\n`;
}
