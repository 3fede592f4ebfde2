import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import {
  CreateImageRequestSchema,
  ImageSchema,
  NotificationSchema,
  Operation_Status,
  ReleaseMode,
  type CreateImageRequest,
  type Notification,
  type FileContentBuffer,
} from "@imagesvc/proto";
import { readFileSync } from "node:fs";

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
  /** A whole `images.insert` body (Compute's JSON); the flags above and below set fields on top. */
  readonly body?: string;
  /** Secure Boot key files: the platform key, key exchange keys, allowed and forbidden databases. */
  readonly shieldedPk?: string;
  readonly shieldedKek?: readonly string[];
  readonly shieldedDb?: readonly string[];
  readonly shieldedDbx?: readonly string[];
  /** Files holding the key a source is encrypted with: a base64 raw key or RSA-wrapped key. */
  readonly sourceDiskKeyFile?: string;
  readonly sourceImageKeyFile?: string;
  readonly sourceSnapshotKeyFile?: string;
  readonly deprecatedState?: string;
  readonly deprecatedReplacement?: string;
  readonly deprecateAt?: string;
  readonly obsoleteAt?: string;
  readonly deleteAt?: string;
  /** Resource Manager tags, each `KEY=VALUE`. */
  readonly tag?: readonly string[];
  /** `promote` (created DEPRECATED, promoted once READY) or `hold` (created DEPRECATED). */
  readonly release?: string;
  /** With `--release promote`: a URL the promotion must get a 2xx from first. */
  readonly releaseCheck?: string;
  /** A webhook to call as the operation moves (`--notify URL`), and on which statuses. */
  readonly notify?: string;
  /** `RUNNING`, `DONE` or both, comma-separated (`--notify-on`); default DONE. */
  readonly notifyOn?: string;
}

/** Reads a file a flag names; tests pass their own. */
export type ReadFile = (path: string) => Buffer;

/** A flag that cannot be turned into a request; `flag` names it for the message. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * Builds the request from the flags. Only shape problems are found here (a `--labels` entry
 * without `=`, a zone without a disk); the rules themselves are libs/validation's, run next.
 */
export function createRequestFromFlags(
  name: string | undefined,
  flags: CreateFlags,
  readFile: ReadFile = readFileSync,
): CreateImageRequest {
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFile(path);
    } catch (e) {
      throw new UsageError(`${flag}: cannot read ${path} (${(e as Error).message})`);
    }
  };
  const base = flags.body === undefined ? {} : bodyOf(read("--body", flags.body), flags.body);
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

  const tags: Record<string, string> = {};
  for (const entry of flags.tag ?? []) {
    const eq = entry.indexOf("=");
    if (eq === -1)
      throw new UsageError(
        `--tag: "${entry}" is not KEY=VALUE; write e.g. --tag tagKeys/123=tagValues/456`,
      );
    tags[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  const secureBoot = (flag: string, path: string) => keyFileContent(read(flag, path));
  const shielded =
    flags.shieldedPk === undefined &&
    (flags.shieldedKek ?? []).length +
      (flags.shieldedDb ?? []).length +
      (flags.shieldedDbx ?? []).length ===
      0
      ? undefined
      : {
          ...(flags.shieldedPk !== undefined && {
            pk: secureBoot("--shielded-pk", flags.shieldedPk),
          }),
          keks: (flags.shieldedKek ?? []).map((f) => secureBoot("--shielded-kek", f)),
          dbs: (flags.shieldedDb ?? []).map((f) => secureBoot("--shielded-db", f)),
          dbxs: (flags.shieldedDbx ?? []).map((f) => secureBoot("--shielded-dbx", f)),
        };
  const sourceKey = (flag: string, path: string | undefined) =>
    path === undefined ? undefined : customerKey(flag, read(flag, path));
  const deprecation = {
    state: flags.deprecatedState,
    replacement: flags.deprecatedReplacement,
    deprecated: flags.deprecateAt,
    obsolete: flags.obsoleteAt,
    deleted: flags.deleteAt,
  };
  const setDeprecation = Object.values(deprecation).some((v) => v !== undefined);

  // Flags set only what they name; everything else comes from --body, if given.
  const overlay: Record<string, unknown> = {
    ...base,
    ...(name !== undefined && { name }),
    ...(flags.description !== undefined && { description: flags.description }),
    ...(flags.family !== undefined && { family: flags.family }),
    ...(flags.labels !== undefined && { labels }),
    ...(flags.sourceUri !== undefined && { rawDisk: { source: flags.sourceUri } }),
    ...(sourceDisk !== "" && { sourceDisk }),
    ...(sourceImage !== "" && { sourceImage }),
    ...(sourceSnapshot !== "" && { sourceSnapshot }),
    ...(flags.storageLocation !== undefined && { storageLocations: list(flags.storageLocation) }),
    ...(flags.guestOsFeatures !== undefined && {
      guestOsFeatures: list(flags.guestOsFeatures).map((type) => ({ type })),
    }),
    ...(flags.licenses !== undefined && { licenses: list(flags.licenses) }),
    ...(flags.architecture !== undefined && { architecture: flags.architecture }),
    ...(shielded !== undefined && { shieldedInstanceInitialState: shielded }),
    ...(flags.sourceDiskKeyFile !== undefined && {
      sourceDiskEncryptionKey: sourceKey("--source-disk-key-file", flags.sourceDiskKeyFile),
    }),
    ...(flags.sourceImageKeyFile !== undefined && {
      sourceImageEncryptionKey: sourceKey("--source-image-key-file", flags.sourceImageKeyFile),
    }),
    ...(flags.sourceSnapshotKeyFile !== undefined && {
      sourceSnapshotEncryptionKey: sourceKey(
        "--source-snapshot-key-file",
        flags.sourceSnapshotKeyFile,
      ),
    }),
    ...(setDeprecation && {
      deprecated: Object.fromEntries(Object.entries(deprecation).map(([k, v]) => [k, v ?? ""])),
    }),
    ...((flags.tag ?? []).length > 0 && { params: { resourceManagerTags: tags } }),
  };
  const image = fromJson(ImageSchema, overlay as JsonValue);
  const notification = notificationFromFlags(flags);
  const release =
    flags.release === undefined
      ? ReleaseMode.UNSPECIFIED
      : flags.release === "promote"
        ? ReleaseMode.PROMOTE_WHEN_READY
        : flags.release === "hold"
          ? ReleaseMode.HOLD
          : undefined;
  if (release === undefined)
    throw new UsageError(
      `--release: "${flags.release ?? ""}" is not a release mode; write promote (created DEPRECATED, promoted once READY) or hold (created DEPRECATED until images promote)`,
    );
  return create(CreateImageRequestSchema, {
    project: flags.project,
    requestId: flags.requestId ?? "",
    forceCreate: flags.force === true,
    release,
    releaseCheckUrl: flags.releaseCheck ?? "",
    image,
    ...(notification !== undefined && { notification }),
  });
}

/** An images.insert body from a file, as the proto message's init (Compute's field names). */
function bodyOf(bytes: Buffer, path: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new UsageError(`--body: ${path} is not JSON (${(e as Error).message})`);
  }
  try {
    fromJson(ImageSchema, json as JsonValue);
    return json as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(
      `--body: ${path} is not an images.insert body: ${(e as Error).message}; see Compute's Image resource for the field names`,
    );
  }
}

/**
 * A Secure Boot key file as Compute takes it: a PEM certificate is sent as its DER bytes, and a
 * DER certificate (an ASN.1 SEQUENCE) is `X509`; anything else is an EFI signature list, `BIN`.
 */
export function keyFileContent(bytes: Buffer): Omit<FileContentBuffer, "$typeName"> {
  const text = bytes.toString("latin1");
  const pem = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  if (pem !== null) return { content: (pem[1] ?? "").replace(/\s+/g, ""), fileType: "X509" };
  const der = bytes[0] === 0x30 && bytes[1] === 0x82;
  return { content: bytes.toString("base64"), fileType: der ? "X509" : "BIN" };
}

/** A key file's key: 44 base64 characters are a raw key, 344 an RSA-wrapped one. */
function customerKey(
  flag: string,
  bytes: Buffer,
): { rawKey: string } | { rsaEncryptedKey: string } {
  const key = bytes.toString("utf8").trim();
  if (key.length === 44) return { rawKey: key };
  if (key.length === 344) return { rsaEncryptedKey: key };
  throw new UsageError(
    `${flag}: the file holds ${key.length} characters; want a 256-bit key in base64 (44 characters) or an RSA-wrapped one (344)`,
  );
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

/** A comma-separated flag's values, trimmed, empty ones left out. */
const list = (value: string | undefined) =>
  (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

/**
 * `--notify URL` and `--notify-on RUNNING,DONE` (DONE by default) as a request's webhook, for
 * `create`, `import` and the release commands; undefined without `--notify`.
 */
export function notificationFromFlags(flags: {
  readonly notify?: string;
  readonly notifyOn?: string;
}): Notification | undefined {
  if (flags.notifyOn !== undefined && flags.notify === undefined)
    throw new UsageError("--notify-on goes with --notify URL");
  if (flags.notify === undefined) return undefined;
  const on = list(flags.notifyOn ?? "DONE").map((status) => {
    const upper = status.toUpperCase();
    if (upper !== "RUNNING" && upper !== "DONE")
      throw new UsageError(
        `--notify-on: "${status}" is not a status a webhook announces; write RUNNING, DONE or RUNNING,DONE`,
      );
    return Operation_Status[upper];
  });
  return create(NotificationSchema, { url: flags.notify, on });
}

/** `image.labels["Env"]` → `--labels`; `image.guest_os_features[1].type` → `--guest-os-features`. */
export function flagOf(field: string): string | undefined {
  const prefixed: [string, string][] = [
    ["image.shielded_instance_initial_state.pk", "--shielded-pk"],
    ["image.shielded_instance_initial_state.keks", "--shielded-kek"],
    ["image.shielded_instance_initial_state.dbs", "--shielded-db"],
    ["image.shielded_instance_initial_state.dbxs", "--shielded-dbx"],
    ["image.source_disk_encryption_key", "--source-disk-key-file"],
    ["image.source_image_encryption_key", "--source-image-key-file"],
    ["image.source_snapshot_encryption_key", "--source-snapshot-key-file"],
    ["image.deprecated.state", "--deprecated-state"],
    ["image.deprecated.replacement", "--deprecated-replacement"],
    ["image.deprecated.deprecated", "--deprecate-at"],
    ["image.deprecated.obsolete", "--obsolete-at"],
    ["image.deprecated.deleted", "--delete-at"],
    ["image.params.resource_manager_tags", "--tag"],
    ["notification.url", "--notify"],
    ["release_check_url", "--release-check"],
    ["notification.on", "--notify-on"],
  ];
  for (const [prefix, flag] of prefixed) if (field.startsWith(prefix)) return flag;
  if (field.startsWith("image.labels")) return "--labels";
  if (field.startsWith("image.guest_os_features")) return "--guest-os-features";
  if (field.startsWith("image.licenses")) return "--licenses";
  if (field.startsWith("image.storage_locations")) return "--storage-location";
  return FLAG_OF_FIELD[field];
}
