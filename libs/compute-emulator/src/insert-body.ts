import { invalid, ComputeFault } from "./compute-error";

/**
 * Compute's own checks of an `images.insert` body, written from Compute's documented messages and
 * independently of libs/validation: the emulator stands for Compute, and sharing code would make
 * the tests circular. Like Compute, it reports the first problem only.
 */

/** Fields of Compute's Image resource. Compute rejects any other name in the body. */
const IMAGE_FIELDS = new Set([
  "architecture",
  "archiveSizeBytes",
  "creationTimestamp",
  "deprecated",
  "description",
  "diskSizeGb",
  "enableConfidentialCompute",
  "family",
  "guestOsFeatures",
  "id",
  "imageEncryptionKey",
  "kind",
  "labelFingerprint",
  "labels",
  "licenseCodes",
  "licenses",
  "name",
  "params",
  "rawDisk",
  "satisfiesPzi",
  "satisfiesPzs",
  "selfLink",
  "shieldedInstanceInitialState",
  "sourceDisk",
  "sourceDiskEncryptionKey",
  "sourceDiskId",
  "sourceImage",
  "sourceImageEncryptionKey",
  "sourceImageId",
  "sourceSnapshot",
  "sourceSnapshotEncryptionKey",
  "sourceSnapshotId",
  "sourceType",
  "status",
  "storageLocations",
]);
const RAW_DISK_FIELDS = new Set(["containerType", "sha1Checksum", "source"]);
const KEY_FIELDS = new Set([
  "kmsKeyName",
  "kmsKeyServiceAccount",
  "rawKey",
  "rsaEncryptedKey",
  "sha256",
]);
const SHIELDED_FIELDS = new Set(["dbs", "dbxs", "keks", "pk"]);
const FILE_FIELDS = new Set(["content", "fileType"]);
const FILE_TYPES = new Set(["BIN", "UNDEFINED", "X509"]);
const DEPRECATION_FIELDS = new Set(["deleted", "deprecated", "obsolete", "replacement", "state"]);
const DEPRECATION_STATES = new Set(["ACTIVE", "DELETED", "DEPRECATED", "OBSOLETE"]);
const PARAMS_FIELDS = new Set(["resourceManagerTags"]);
const NAME = /^(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STORAGE_URL = /^https:\/\/storage\.googleapis\.com\/([^/]+)\/(.+)$/;

/** The parts of a valid body the emulator uses. */
export interface InsertBody {
  readonly name: string;
  /** `BUCKET/OBJECT` of rawDisk.source, if that is the source. */
  readonly rawDiskObject?: string;
  readonly json: Record<string, unknown>;
}

export function checkRequestId(requestId: string | null): void {
  if (requestId === null) return;
  if (!UUID.test(requestId) || /^[0-]+$/.test(requestId)) {
    throw invalid(
      `Invalid value for field 'requestId': '${requestId}'. The provided request ID must be a valid UUID with the exception that zero UUID is not supported (00000000-0000-0000-0000-000000000000).`,
    );
  }
}

export function parseInsertBody(text: string): InsertBody {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid("Invalid JSON payload received. Unexpected token.");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw invalid("Invalid JSON payload received. Expected an object for 'resource'.");
  }
  const body = json as Record<string, unknown>;
  rejectUnknown(body, IMAGE_FIELDS, "resource");
  const rawDisk = objectField(body, "rawDisk");
  if (rawDisk !== undefined) rejectUnknown(rawDisk, RAW_DISK_FIELDS, "resource.rawDisk");
  for (const field of [
    "imageEncryptionKey",
    "sourceDiskEncryptionKey",
    "sourceImageEncryptionKey",
    "sourceSnapshotEncryptionKey",
  ]) {
    const key = objectField(body, field);
    if (key !== undefined) rejectUnknown(key, KEY_FIELDS, `resource.${field}`);
  }
  checkShieldedState(objectField(body, "shieldedInstanceInitialState"));
  const deprecated = objectField(body, "deprecated");
  if (deprecated !== undefined) {
    rejectUnknown(deprecated, DEPRECATION_FIELDS, "resource.deprecated");
    const state = deprecated["state"];
    if (state !== undefined && (typeof state !== "string" || !DEPRECATION_STATES.has(state)))
      throw badEnum("resource.deprecated.state", state);
  }
  const params = objectField(body, "params");
  if (params !== undefined) rejectUnknown(params, PARAMS_FIELDS, "resource.params");
  const sourceType = body["sourceType"];
  if (sourceType !== undefined && sourceType !== "RAW")
    throw badEnum("resource.sourceType", sourceType);

  const name = body["name"];
  if (typeof name !== "string" || name === "") {
    throw new ComputeFault(400, "required", "Required field 'resource.name' not specified");
  }
  if (!NAME.test(name)) {
    throw invalid(
      `Invalid value for field 'resource.name': '${name}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'`,
    );
  }
  const rawSource = rawDisk?.["source"];
  const sources = [
    rawSource,
    body["sourceDisk"],
    body["sourceImage"],
    body["sourceSnapshot"],
  ].filter((s) => typeof s === "string" && s !== "");
  if (sources.length !== 1)
    throw invalid("Invalid resource usage: 'Must specify exactly one source for an image.'");
  let rawDiskObject: string | undefined;
  if (typeof rawSource === "string" && rawSource !== "") {
    const match = STORAGE_URL.exec(rawSource);
    if (match === null) {
      throw invalid(
        "Invalid value for field 'resource.id': '0'. The provided source location was not a valid Google Cloud Storage object reference.",
      );
    }
    rawDiskObject = `${match[1] ?? ""}/${match[2] ?? ""}`;
  }
  const containerType = rawDisk?.["containerType"];
  if (containerType !== undefined && containerType !== "TAR") {
    throw invalid(
      `Invalid value for field 'resource.rawDisk.containerType': ${JSON.stringify(containerType)}.`,
    );
  }
  return rawDiskObject === undefined ? { name, json: body } : { name, rawDiskObject, json: body };
}

/** Compute's answer to a JSON value that is not one of an enum's names. */
function badEnum(at: string, value: unknown): ComputeFault {
  return invalid(
    `Invalid JSON payload received. Invalid value at '${at}' (TYPE_ENUM), ${JSON.stringify(value)}`,
  );
}

function checkShieldedState(state: Record<string, unknown> | undefined): void {
  if (state === undefined) return;
  const at = "resource.shieldedInstanceInitialState";
  rejectUnknown(state, SHIELDED_FIELDS, at);
  const file = (value: unknown, path: string) => {
    if (typeof value !== "object" || value === null || Array.isArray(value))
      throw invalid(
        `Invalid JSON payload received. Invalid value at '${path}': expected an object.`,
      );
    const f = value as Record<string, unknown>;
    rejectUnknown(f, FILE_FIELDS, path);
    if (
      f["fileType"] !== undefined &&
      (typeof f["fileType"] !== "string" || !FILE_TYPES.has(f["fileType"]))
    )
      throw badEnum(`${path}.fileType`, f["fileType"]);
    if (typeof f["content"] !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(f["content"]))
      throw invalid(
        `Invalid value for field '${path}.content': the content must be base64-encoded bytes.`,
      );
  };
  if (state["pk"] !== undefined) file(state["pk"], `${at}.pk`);
  for (const list of ["keks", "dbs", "dbxs"]) {
    const files = state[list];
    if (files === undefined) continue;
    if (!Array.isArray(files))
      throw invalid(
        `Invalid JSON payload received. Invalid value at '${at}.${list}': expected a list.`,
      );
    files.forEach((f, i) => {
      file(f, `${at}.${list}[${i}]`);
    });
  }
}

function objectField(
  body: Record<string, unknown>,
  field: string,
): Record<string, unknown> | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(
      `Invalid JSON payload received. Invalid value at 'resource.${field}': expected an object.`,
    );
  }
  return value as Record<string, unknown>;
}

function rejectUnknown(
  object: Record<string, unknown>,
  known: ReadonlySet<string>,
  at: string,
): void {
  for (const key of Object.keys(object)) {
    if (!known.has(key)) {
      throw invalid(
        `Invalid JSON payload received. Unknown name "${key}" at '${at}': Cannot find field.`,
      );
    }
  }
}
