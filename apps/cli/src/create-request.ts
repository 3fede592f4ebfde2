import { create } from "@bufbuild/protobuf";
import { CreateImageRequestSchema, type CreateImageRequest } from "@imagesvc/proto";

/** The flags of `images create`, named and shaped after `gcloud compute images create`. */
export interface CreateFlags {
  readonly project: string;
  readonly sourceUri?: string;
  readonly sourceDisk?: string;
  readonly sourceDiskZone?: string;
  readonly sourceImage?: string;
  readonly sourceImageFamily?: string;
  readonly sourceImageProject?: string;
  readonly sourceSnapshot?: string;
  readonly family?: string;
  readonly description?: string;
  readonly labels?: string;
  readonly guestOsFeatures?: string;
  readonly storageLocation?: string;
  readonly architecture?: string;
  readonly licenses?: string;
  readonly force?: boolean;
  readonly requestId?: string;
}

/** A flag that cannot be turned into a request; `flag` names it for the message. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * Builds the request from the flags. Only shape problems are found here (a `--labels` entry
 * without `=`, a zone without a disk); the rules themselves are libs/validation's, run next.
 */
export function createRequestFromFlags(name: string, flags: CreateFlags): CreateImageRequest {
  const list = (value: string | undefined) =>
    (value ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  const labels: Record<string, string> = {};
  for (const entry of list(flags.labels)) {
    const eq = entry.indexOf("=");
    if (eq === -1)
      throw new UsageError(
        `--labels: "${entry}" is not KEY=VALUE; write e.g. --labels env=prod,team=edge`,
      );
    labels[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  if (flags.sourceDiskZone !== undefined && flags.sourceDisk === undefined) {
    throw new UsageError("--source-disk-zone goes with --source-disk");
  }
  if (
    flags.sourceImageProject !== undefined &&
    flags.sourceImage === undefined &&
    flags.sourceImageFamily === undefined
  ) {
    throw new UsageError(
      "--source-image-project goes with --source-image or --source-image-family",
    );
  }
  if (flags.sourceImage !== undefined && flags.sourceImageFamily !== undefined) {
    throw new UsageError("--source-image and --source-image-family are two sources; give one");
  }

  const disk = flags.sourceDisk;
  const sourceDisk =
    disk === undefined
      ? ""
      : flags.sourceDiskZone !== undefined && !disk.includes("/")
        ? `zones/${flags.sourceDiskZone}/disks/${disk}`
        : disk;
  const imageScope =
    flags.sourceImageProject === undefined
      ? "global/images"
      : `projects/${flags.sourceImageProject}/global/images`;
  const bareImage = (value: string) => (value.includes("/") ? value : `${imageScope}/${value}`);
  const sourceImage =
    flags.sourceImageFamily !== undefined
      ? `${imageScope}/family/${flags.sourceImageFamily}`
      : flags.sourceImage === undefined
        ? ""
        : bareImage(flags.sourceImage);
  const snapshot = flags.sourceSnapshot;
  const sourceSnapshot =
    snapshot === undefined
      ? ""
      : snapshot.includes("/")
        ? snapshot
        : `global/snapshots/${snapshot}`;

  return create(CreateImageRequestSchema, {
    project: flags.project,
    requestId: flags.requestId ?? "",
    forceCreate: flags.force === true,
    image: {
      name,
      description: flags.description ?? "",
      family: flags.family ?? "",
      labels,
      ...(flags.sourceUri !== undefined && { rawDisk: { source: flags.sourceUri } }),
      sourceDisk,
      sourceImage,
      sourceSnapshot,
      storageLocations: list(flags.storageLocation),
      guestOsFeatures: list(flags.guestOsFeatures).map((type) => ({ type })),
      licenses: list(flags.licenses),
      architecture: flags.architecture ?? "",
    },
  });
}

/** The flag a request field comes from, so validation messages point at what the user typed. */
export const FLAG_OF_FIELD: Readonly<Record<string, string>> = {
  project: "--project",
  request_id: "--request-id",
  "image.name": "IMAGE_NAME",
  "image.family": "--family",
  "image.raw_disk.source": "--source-uri",
  "image.source_disk": "--source-disk",
  "image.source_image": "--source-image",
  "image.source_snapshot": "--source-snapshot",
  "image.storage_locations": "--storage-location",
  "image.architecture": "--architecture",
  "image.disk_size_gb": "--disk-size",
};

/** `image.labels["Env"]` → `--labels`; `image.guest_os_features[1].type` → `--guest-os-features`. */
export function flagOf(field: string): string | undefined {
  if (field.startsWith("image.labels")) return "--labels";
  if (field.startsWith("image.guest_os_features")) return "--guest-os-features";
  if (field.startsWith("image.licenses")) return "--licenses";
  if (field.startsWith("image.storage_locations")) return "--storage-location";
  return FLAG_OF_FIELD[field];
}
