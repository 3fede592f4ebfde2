import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { createSecretBox, loadSecretBox, SecretBoxError } from "./secret-box";

const dir = mkdtempSync(join(tmpdir(), "secrets-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("SecretBox", () => {
  const box = createSecretBox(randomBytes(32));

  it("opens what it sealed, and the sealed form never contains the plaintext", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 8 }), (plaintext) => {
        const sealed = box.seal(plaintext);
        expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]*$/);
        expect(sealed.includes(plaintext)).toBe(false);
        expect(box.open(sealed)).toBe(plaintext);
      }),
    );
  });

  it("seals the same value differently each time", () => {
    expect(box.seal("k")).not.toBe(box.seal("k"));
  });

  it("refuses a value sealed with another key, a changed one, and clear text", () => {
    const other = createSecretBox(randomBytes(32));
    const sealed = box.seal("customer key");
    expect(() => other.open(sealed)).toThrow(SecretBoxError);
    const [f, n, t, b] = sealed.split(".");
    const flipped = `${f}.${n}.${t}.${(b ?? "").startsWith("A") ? "B" : "A"}${(b ?? "").slice(1)}`;
    expect(() => box.open(flipped)).toThrow(/does not open with this key/);
    expect(() => box.open("customer key")).toThrow(/not a sealed value/);
  });

  it("loads a key written as base64, hex or raw bytes, and names the variable for a bad one", () => {
    const key = randomBytes(32);
    const files = {
      base64: `${key.toString("base64")}\n`,
      hex: key.toString("hex"),
      raw: key,
    };
    const sealed = createSecretBox(key).seal("x");
    for (const [name, content] of Object.entries(files)) {
      const path = join(dir, name);
      writeFileSync(path, content);
      expect(loadSecretBox(path).open(sealed)).toBe("x");
    }
    const short = join(dir, "short");
    writeFileSync(short, "too short");
    expect(() => loadSecretBox(short)).toThrow(
      /SECRETS_KEY_FILE: .* holds 9 bytes; it needs a 32-byte key/,
    );
    expect(() => loadSecretBox(join(dir, "missing"))).toThrow(/SECRETS_KEY_FILE: cannot read/);
  });
});
