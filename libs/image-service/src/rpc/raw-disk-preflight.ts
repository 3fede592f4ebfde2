import { create } from "@bufbuild/protobuf";
import { PREFLIGHT_WARNING_DATA } from "@imagesvc/lifecycle";
import {
  type CreateImageRequest,
  type Operation_Warning,
  Operation_WarningSchema,
} from "@imagesvc/proto";
import type { ImageServiceDeps } from "./deps";
import { rawDiskRefused } from "./errors";

/**
 * The pre-flight of `image.raw_disk.source`, run by CreateImage before anything is stored
 * (docs/design.md, "Pre-flight of raw disks"): a failed check is FAILED_PRECONDITION naming the
 * check, what was found and the fix; a pass may carry warnings for the operation. A retry of an
 * accepted request is not checked again: it answers with the operation it created.
 */
export async function preflightRawDisk(
  deps: ImageServiceDeps,
  req: CreateImageRequest,
): Promise<Operation_Warning[]> {
  const check = deps.rawDiskPreflight;
  const source = req.image?.rawDisk?.source ?? "";
  if (check === undefined || source === "") return [];
  if (
    req.requestId !== "" &&
    (await deps.store.forRequest(req.project, req.requestId)) !== undefined
  )
    return [];
  const uefi = (req.image?.guestOsFeatures ?? []).some((f) => f.type === "UEFI_COMPATIBLE");
  const verdict = await check(source, uefi);
  if (verdict.ok === "unchecked") {
    // Cloud Storage could not be asked: Compute reads the archive itself, as without a pre-flight.
    deps.log.warn({ source, reason: verdict.reason }, "raw disk pre-flight skipped");
    return [
      warning(
        "PREFLIGHT_UNCHECKED",
        `The pre-flight of ${source} could not run (${verdict.reason}); Compute will check the archive itself, and report a problem on the operation.`,
      ),
    ];
  }
  if (!verdict.ok) throw rawDiskRefused(source, verdict);
  return verdict.warnings.map((w) => warning(w.code, w.message, w.data));
}

function warning(
  code: string,
  message: string,
  data: readonly { readonly key: string; readonly value: string }[] = [],
): Operation_Warning {
  return create(Operation_WarningSchema, {
    code,
    message,
    data: [...data, PREFLIGHT_WARNING_DATA],
  });
}
