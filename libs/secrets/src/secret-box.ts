import { ConfigError } from "@imagesvc/config";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

/** Sealed values start with this, so a reader can tell them from clear text and from a newer format. */
const FORMAT = "v1";

/**
 * Encrypts the secrets a request carries (a customer-supplied encryption key) before they are
 * stored in Redis, with AES-256-GCM under the service's own key: a copy of Redis (a dump, a
 * replica, a backup) then holds no secret in clear. Each value gets a fresh 96-bit nonce; the
 * GCM tag makes any change to the stored value an error rather than a wrong key.
 */
export interface SecretBox {
  /** `v1.<nonce>.<tag>.<ciphertext>`, base64url. */
  seal(plaintext: string): string;
  /** The plaintext; throws SecretBoxError if the value was not sealed with this key. */
  open(sealed: string): string;
}

export class SecretBoxError extends Error {
  override readonly name = "SecretBoxError";
}

/** A box over a 32-byte key. */
export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32)
    throw new RangeError(`the secrets key must be 32 bytes (AES-256), got ${key.length}`);
  return {
    seal(plaintext) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return [FORMAT, nonce, cipher.getAuthTag(), body]
        .map((part) => (typeof part === "string" ? part : part.toString("base64url")))
        .join(".");
    },
    open(sealed) {
      const [format, nonce, tag, body] = sealed.split(".");
      if (format !== FORMAT || nonce === undefined || tag === undefined || body === undefined)
        throw new SecretBoxError("not a sealed value");
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(nonce, "base64url"));
        decipher.setAuthTag(Buffer.from(tag, "base64url"));
        return Buffer.concat([
          decipher.update(Buffer.from(body, "base64url")),
          decipher.final(),
        ]).toString("utf8");
      } catch {
        throw new SecretBoxError("the sealed value does not open with this key");
      }
    },
  };
}

/**
 * Reads the key from a file (SECRETS_KEY_FILE): 32 bytes as base64 or hex text, or raw. Every
 * gateway and worker of a deployment must read the same key. `openssl rand -base64 32` makes one.
 */
export function loadSecretBox(path: string): SecretBox {
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (e) {
    throw new ConfigError("SECRETS_KEY_FILE", `cannot read ${path}: ${(e as Error).message}`);
  }
  const text = content.toString("utf8").trim();
  const key = /^[0-9a-f]{64}$/i.test(text)
    ? Buffer.from(text, "hex")
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(text)
      ? Buffer.from(text, "base64")
      : content;
  if (key.length !== 32)
    throw new ConfigError(
      "SECRETS_KEY_FILE",
      `${path} holds ${key.length} bytes; it needs a 32-byte key, as base64 (openssl rand -base64 32) or hex`,
    );
  return createSecretBox(key);
}
