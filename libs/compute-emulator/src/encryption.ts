import { createHash } from "node:crypto";
import { invalid } from "./compute-error";

/**
 * Encryption keys as Compute handles them on images.insert: a source protected by a customer-
 * supplied key (CSEK) opens only with that key, a key given for a source not encrypted with it is
 * refused, and a stored resource shows a CSEK's `sha256`, never the key.
 *
 * What the emulator cannot do as Compute does: unwrap an `rsaEncryptedKey` (only Google holds the
 * private key). It treats the wrapped value as the key itself, so the same wrapped value opens
 * what it encrypted and its `sha256` is the hash of the wrapped bytes.
 */
export type SourceEncryption =
  | { readonly kind: "csek"; readonly sha256: string }
  | { readonly kind: "kms"; readonly kmsKeyName: string };

/** The source fields of an image, with the key field that opens each. */
export const SOURCE_KEY_FIELDS = [
  ["sourceDisk", "sourceDiskEncryptionKey"],
  ["sourceImage", "sourceImageEncryptionKey"],
  ["sourceSnapshot", "sourceSnapshotEncryptionKey"],
] as const;

const KEY_FIELDS = [
  "imageEncryptionKey",
  "sourceDiskEncryptionKey",
  "sourceImageEncryptionKey",
  "sourceSnapshotEncryptionKey",
] as const;

type Json = Record<string, unknown>;

/** Compute's `sha256` of a customer-supplied key: base64 of SHA-256 of the key's bytes. */
export function keySha256(key: string): string {
  return createHash("sha256").update(Buffer.from(key, "base64")).digest("base64");
}

/** What a key object encrypts with, or undefined for a key object that names no key. */
export function encryptionOf(key: Json | undefined): SourceEncryption | undefined {
  if (key === undefined) return undefined;
  const csek = key["rawKey"] ?? key["rsaEncryptedKey"];
  if (typeof csek === "string" && csek !== "") return { kind: "csek", sha256: keySha256(csek) };
  const kms = key["kmsKeyName"];
  if (typeof kms === "string" && kms !== "") return { kind: "kms", kmsKeyName: kms };
  return undefined;
}

/**
 * Checks each source key against the source's encryption (`encryptionOfSource`: undefined for a
 * source the emulator does not know as encrypted). Throws Compute's 400 for a missing or
 * mismatched key, and for a key given for a source that is not encrypted with it.
 */
export function checkSourceKeys(
  body: Json,
  encryptionOfSource: (field: string, reference: string) => SourceEncryption | undefined,
): void {
  for (const [sourceField, keyField] of SOURCE_KEY_FIELDS) {
    const source = body[sourceField];
    const given = encryptionOf(body[keyField] as Json | undefined);
    if (typeof source !== "string" || source === "") {
      if (body[keyField] !== undefined)
        throw invalid(
          `Invalid value for field 'resource.${keyField}': '${sourceField}' is not set; a source key needs its source.`,
        );
      continue;
    }
    const actual = encryptionOfSource(sourceField, source);
    if (actual?.kind === "csek" && given === undefined)
      throw invalid(
        `The resource '${source}' is encrypted with a customer-supplied encryption key; provide it in '${keyField}'.`,
      );
    if (given === undefined) continue;
    const matches =
      actual !== undefined &&
      actual.kind === given.kind &&
      (actual.kind === "csek"
        ? actual.sha256 === (given as { sha256: string }).sha256
        : actual.kmsKeyName.split("/cryptoKeyVersions/")[0] ===
          (given as { kmsKeyName: string }).kmsKeyName.split("/cryptoKeyVersions/")[0]);
    if (!matches)
      throw invalid(
        actual === undefined
          ? `Invalid value for field 'resource.${keyField}': the resource '${source}' is not encrypted with a customer-supplied or Cloud KMS key.`
          : `Invalid value for field 'resource.${keyField}': the key does not match the key that protects '${source}'.`,
      );
  }
}

/** The body as Compute stores it: each customer-supplied key replaced by its sha256. */
export function storedKeys(body: Json): Json {
  const out: Json = { ...body };
  for (const field of KEY_FIELDS) {
    const key = out[field] as Json | undefined;
    if (key === undefined) continue;
    const { rawKey, rsaEncryptedKey, ...rest } = key;
    const csek = rawKey ?? rsaEncryptedKey;
    out[field] =
      typeof csek === "string" && csek !== "" ? { ...rest, sha256: keySha256(csek) } : rest;
  }
  return out;
}
