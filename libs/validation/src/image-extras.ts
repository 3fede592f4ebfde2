// Checks of the Image fields beyond name, source and placement: encryption keys (the image's and
// its source's), Secure Boot keys, the deprecation status, Resource Manager tags and sourceType.
import type {
  CustomerEncryptionKey,
  DeprecationStatus,
  FileContentBuffer,
  Image,
  InitialStateConfig,
} from "@imagesvc/proto";
import { quote } from "./field-violation";
import { IMAGE, checkKmsKeyName, checkReference } from "./resource-path";

type Check = (field: string, problem: string | undefined) => void;

/** Compute's `FileContentBuffer.fileType` values. */
export const SECURE_BOOT_FILE_TYPES: readonly string[] = ["BIN", "UNDEFINED", "X509"];
/** Compute's `DeprecationStatus.state` values. */
export const DEPRECATION_STATES: readonly string[] = [
  "ACTIVE",
  "DELETED",
  "DEPRECATED",
  "OBSOLETE",
];

/**
 * Bounds on Secure Boot keys and tags. Compute documents no size for a Secure Boot file (neither
 * the v1 discovery document nor `gcloud compute images create --platform-key-file` and its
 * siblings say one); the service's bound sits well above the largest real file, the UEFI Forum's
 * published dbx revocation list (tens of KiB), and keeps one request's Redis record bounded.
 * The tag count is Resource Manager's documented limit: at most 50 tags bound to one resource.
 */
export const EXTRA_LIMITS = {
  /** Decoded bytes of one Secure Boot file. */
  secureBootFileBytes: 64 * 1024,
  /** Decoded bytes of all Secure Boot files of one image together. */
  secureBootTotalBytes: 256 * 1024,
  /** Entries of each of `keks`, `dbs` and `dbxs`. */
  secureBootFiles: 64,
  /** Entries of `params.resource_manager_tags`. */
  resourceManagerTags: 50,
} as const;

/** The three source keys, each with the source field it belongs to. */
export const SOURCE_KEYS = [
  [
    "source_disk_encryption_key",
    "source_disk",
    (i: Image) => i.sourceDiskEncryptionKey,
    (i: Image) => i.sourceDisk,
  ],
  [
    "source_image_encryption_key",
    "source_image",
    (i: Image) => i.sourceImageEncryptionKey,
    (i: Image) => i.sourceImage,
  ],
  [
    "source_snapshot_encryption_key",
    "source_snapshot",
    (i: Image) => i.sourceSnapshotEncryptionKey,
    (i: Image) => i.sourceSnapshot,
  ],
] as const;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** RFC 3339 date-time, as Compute writes and reads its timestamps. */
const RFC3339 =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/i;
/** A Resource Manager short name: 1-63 characters, alphanumeric at both ends, `-_.` between. */
const SHORT_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
/** A tag key's parent: an organization id, or a project id. */
const TAG_PARENT = /^(?:[1-9]\d{0,18}|[a-z][-a-z0-9]{4,28}[a-z0-9])$/;
const TAG_KEY_ID = /^tagKeys\/[1-9]\d{0,18}$/;
const TAG_VALUE_ID = /^tagValues\/[1-9]\d{0,18}$/;

/** The decoded length of RFC 4648 base64 `value`, or undefined if it is not base64. */
export function base64Bytes(value: string): number | undefined {
  if (!BASE64.test(value)) return undefined;
  return (value.length / 4) * 3 - (value.endsWith("==") ? 2 : value.endsWith("=") ? 1 : 0);
}

export function validateImageExtras(image: Image, check: Check): void {
  const keyed = image.imageEncryptionKey;
  if (keyed !== undefined) checkKey("image.image_encryption_key", keyed, check);
  for (const [keyField, sourceField, keyOf, sourceOf] of SOURCE_KEYS) {
    const key = keyOf(image);
    if (key === undefined) continue;
    const field = `image.${keyField}`;
    if (sourceOf(image) === "")
      check(
        field,
        `is the key of image.${sourceField}, which is not set; set ${sourceField}, or leave the key out`,
      );
    checkKey(field, key, check);
  }
  if (image.shieldedInstanceInitialState !== undefined)
    checkSecureBoot(image.shieldedInstanceInitialState, check);
  if (image.deprecated !== undefined) checkDeprecation(image.deprecated, check);
  checkTags(image.params?.resourceManagerTags ?? {}, check);
  if (image.sourceType !== "" && image.sourceType !== "RAW")
    check(
      "image.source_type",
      `${quote(image.sourceType)} is not a source type; the only one is "RAW" (or leave it empty)`,
    );
}

/** A customer-supplied or KMS key: exactly one of raw_key, rsa_encrypted_key and kms_key_name. */
function checkKey(field: string, key: CustomerEncryptionKey, check: Check): void {
  const set = (
    [
      ["raw_key", key.rawKey],
      ["rsa_encrypted_key", key.rsaEncryptedKey],
      ["kms_key_name", key.kmsKeyName],
    ] as const
  )
    .filter(([, value]) => value !== "")
    .map(([name]) => name);
  if (set.length === 0)
    check(
      field,
      "sets no key; set exactly one of raw_key, rsa_encrypted_key and kms_key_name, or leave the key out",
    );
  if (set.length > 1)
    check(field, `sets ${set.join(" and ")}; a key is exactly one of them, keep one`);
  if (key.rawKey !== "" && base64Bytes(key.rawKey) !== 32)
    check(
      `${field}.raw_key`,
      "must be a 256-bit key in RFC 4648 base64 (44 characters ending in '=')",
    );
  if (key.rsaEncryptedKey !== "" && base64Bytes(key.rsaEncryptedKey) !== 256)
    check(
      `${field}.rsa_encrypted_key`,
      "must be a 256-bit key wrapped with Google's 2048-bit RSA public key, in RFC 4648 base64 (344 characters)",
    );
  if (key.kmsKeyName !== "") check(`${field}.kms_key_name`, checkKmsKeyName(key.kmsKeyName));
  if (key.kmsKeyServiceAccount !== "" && key.kmsKeyName === "")
    check(
      `${field}.kms_key_service_account`,
      "is only used with kms_key_name; set kms_key_name too, or clear it",
    );
}

function checkSecureBoot(state: InitialStateConfig, check: Check): void {
  const at = "image.shielded_instance_initial_state";
  let total = 0;
  const file = (field: string, f: FileContentBuffer) => {
    if (f.content === "") {
      check(`${field}.content`, "is empty; set the key file's bytes in RFC 4648 base64");
    } else {
      const bytes = base64Bytes(f.content);
      if (bytes === undefined)
        check(
          `${field}.content`,
          "is not RFC 4648 base64; encode the key file's bytes, e.g. base64 -w0 FILE",
        );
      else if (bytes > EXTRA_LIMITS.secureBootFileBytes)
        check(
          `${field}.content`,
          `is ${bytes} bytes; a Secure Boot file is at most ${EXTRA_LIMITS.secureBootFileBytes}`,
        );
      else total += bytes;
    }
    if (f.fileType !== "" && !SECURE_BOOT_FILE_TYPES.includes(f.fileType))
      check(
        `${field}.file_type`,
        `${quote(f.fileType)} is not a file type; use "X509" (a DER certificate), "BIN" (an EFI signature list) or "UNDEFINED"`,
      );
  };
  if (state.pk !== undefined) file(`${at}.pk`, state.pk);
  for (const [name, list] of [
    ["keks", state.keks],
    ["dbs", state.dbs],
    ["dbxs", state.dbxs],
  ] as const) {
    if (list.length > EXTRA_LIMITS.secureBootFiles)
      check(
        `${at}.${name}`,
        `has ${list.length} files; at most ${EXTRA_LIMITS.secureBootFiles} are accepted`,
      );
    list.slice(0, EXTRA_LIMITS.secureBootFiles).forEach((f, i) => {
      file(`${at}.${name}[${i}]`, f);
    });
  }
  if (total > EXTRA_LIMITS.secureBootTotalBytes)
    check(
      at,
      `holds ${total} bytes of key files; at most ${EXTRA_LIMITS.secureBootTotalBytes} in all are accepted`,
    );
}

function checkDeprecation(status: DeprecationStatus, check: Check): void {
  const at = "image.deprecated";
  if (!DEPRECATION_STATES.includes(status.state))
    check(
      `${at}.state`,
      status.state === ""
        ? `is required with deprecated; use one of ${DEPRECATION_STATES.join(", ")}`
        : `${quote(status.state)} is not a deprecation state; use one of ${DEPRECATION_STATES.join(", ")}`,
    );
  for (const [name, value] of [
    ["deprecated", status.deprecated],
    ["obsolete", status.obsolete],
    ["deleted", status.deleted],
  ] as const) {
    if (value !== "" && !isRfc3339(value))
      check(
        `${at}.${name}`,
        `${quote(value)} is not an RFC 3339 time; use e.g. "2027-06-30T00:00:00Z"`,
      );
  }
  if (status.replacement !== "")
    check(`${at}.replacement`, checkReference(status.replacement, IMAGE));
}

function checkTags(tags: Readonly<Record<string, string>>, check: Check): void {
  const entries = Object.entries(tags);
  const at = "image.params.resource_manager_tags";
  if (entries.length > EXTRA_LIMITS.resourceManagerTags)
    check(
      at,
      `has ${entries.length} tags; Resource Manager binds at most ${EXTRA_LIMITS.resourceManagerTags} to one resource`,
    );
  for (const [key, value] of entries.slice(0, EXTRA_LIMITS.resourceManagerTags)) {
    const field = `${at}[${JSON.stringify(key)}]`;
    const [parent = "", shortName = "", ...rest] = key.split("/");
    const keyOk =
      TAG_KEY_ID.test(key) ||
      (rest.length === 0 && TAG_PARENT.test(parent) && SHORT_NAME.test(shortName));
    if (!keyOk)
      check(
        field,
        `the key ${quote(key)} is not a tag key; use "tagKeys/ID" or "PARENT/SHORT_NAME", where PARENT is an organization id or a project id`,
      );
    const [vParent = "", vKey = "", vShort = "", ...vRest] = value.split("/");
    const valueOk =
      TAG_VALUE_ID.test(value) ||
      SHORT_NAME.test(value) ||
      (vRest.length === 0 &&
        TAG_PARENT.test(vParent) &&
        SHORT_NAME.test(vKey) &&
        SHORT_NAME.test(vShort));
    if (!valueOk)
      check(
        field,
        `the value ${quote(value)} is not a tag value; use "tagValues/ID", "PARENT/KEY/VALUE" or the value's short name (1-63 letters, digits, '-', '_' or '.')`,
      );
  }
}

/** An RFC 3339 date-time whose date exists (no February 30th). */
function isRfc3339(value: string): boolean {
  if (!RFC3339.test(value)) return false;
  const [y = 0, m = 0, d = 0] = value.slice(0, 10).split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d;
}
