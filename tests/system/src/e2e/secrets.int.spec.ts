// Secrets at rest: a customer-supplied encryption key travels to Compute, but Redis never holds
// it in clear, and holds not even its sealed form once the operation is DONE.
import { Code, ConnectError } from "@connectrpc/connect";
import { Operation_Status } from "@imagesvc/proto";
import { loadSecretBox } from "@imagesvc/secrets";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startStack, type Stack, watchVersions } from "./stack.test-helper";

const dir = mkdtempSync(join(tmpdir(), "gateway-secrets-"));
const keyFile = join(dir, "secrets.key");
writeFileSync(keyFile, randomBytes(32).toString("base64"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Every value of every key of the stack, as text: strings, hashes, lists, sets, sorted sets, streams. */
async function everything(stack: Stack): Promise<string> {
  const client = stack.redis.client;
  const out: string[] = [];
  for (const key of await stack.keys()) {
    const type = await client.type(key);
    const value =
      type === "string"
        ? await client.get(key)
        : type === "hash"
          ? await client.hgetall(key)
          : type === "list"
            ? await client.lrange(key, 0, -1)
            : type === "set"
              ? await client.smembers(key)
              : type === "zset"
                ? await client.zrange(key, 0, -1)
                : type === "stream"
                  ? await client.xrange(key, "-", "+")
                  : null;
    out.push(`${key} ${JSON.stringify(value)}`);
  }
  return out.join("\n");
}

const BASE = "projects/my-project/global/images/encrypted-base";
const sha256 = (key: string) =>
  createHash("sha256").update(Buffer.from(key, "base64")).digest("base64");
const request = (name: string, rawKey: string, sourceRsaKey?: string) => ({
  project: "my-project",
  image: {
    name,
    imageEncryptionKey: { rawKey },
    ...(sourceRsaKey === undefined
      ? { sourceImage: "projects/debian-cloud/global/images/family/debian-12" }
      : { sourceImage: BASE, sourceImageEncryptionKey: { rsaEncryptedKey: sourceRsaKey } }),
  },
});

describe("a customer-supplied key", () => {
  it("reaches Compute, is stored only sealed while the operation runs, and is scrubbed at DONE: the image's raw key and its source's RSA-wrapped key", async () => {
    const stack = await startStack({
      emulator: { operationDurationMs: 1500, waitCapMs: 100 },
      gateway: { secrets: loadSecretBox(keyFile) },
    });
    try {
      await stack.startWorker({ SECRETS_KEY_FILE: keyFile });
      const rawKey = randomBytes(32).toString("base64");
      const rsaKey = randomBytes(256).toString("base64");
      stack.emulator.admin.encryptSource(BASE, { rsaEncryptedKey: rsaKey });
      const op = await stack.client.createImage(request("sealed", rawKey, rsaKey));
      const clear = [
        rawKey,
        rsaKey,
        ...[rawKey, rsaKey].map((k) => Buffer.from(k, "base64").toString("hex")),
      ];

      const running = await everything(stack);
      for (const key of clear) expect(running).not.toContain(key);
      // The record and the job hold the sealed key (AES-256-GCM), which the worker can open.
      expect(running).toMatch(/v1\.[\w-]{16}\.[\w-]{22}\.[\w-]+/);

      const done = (await watchVersions(stack, op)).at(-1);
      expect(done?.status).toBe(Operation_Status.DONE);
      expect(done?.error).toBeUndefined();
      // Compute got both keys: it holds their hashes (the source opened with its key).
      const image = stack.emulator.admin.state().images.find((i) => i.name === "sealed");
      expect(image?.["imageEncryptionKey"]).toEqual({ sha256: sha256(rawKey) });
      expect(image?.["sourceImageEncryptionKey"]).toEqual({ sha256: sha256(rsaKey) });

      // The job completes just after DONE is published; give it its moment.
      let after = await everything(stack);
      for (let i = 0; i < 50 && /v1\.[\w-]{16}\.[\w-]{22}\./.test(after); i++) {
        await new Promise((r) => setTimeout(r, 20));
        after = await everything(stack);
      }
      for (const key of clear) expect(after).not.toContain(key);
      expect(after).not.toMatch(/v1\.[\w-]{16}\.[\w-]{22}\.[\w-]+/);

      // The history keeps every version and the request as asked, its keys left out.
      const history = await stack.client.getOperationHistory({
        project: "my-project",
        operation: op.name,
      });
      const versions = history.versions.map((v) => v.version);
      expect(versions).toEqual(versions.map((_, i) => i + 1));
      expect(history.versions.at(-1)).toMatchObject({
        version: done?.version,
        status: Operation_Status.DONE,
      });
      expect(history.request?.image?.name).toBe("sealed");
      expect(history.request?.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(history.request?.image?.imageEncryptionKey?.rawKey).toBe("");
      expect(history.request?.image?.sourceImageEncryptionKey?.rsaEncryptedKey).toBe("");
      expect(history.request?.image?.sourceImage).toBe(BASE);
    } finally {
      await stack.close();
    }
  });

  it("is refused clearly by a gateway with no SECRETS_KEY_FILE, and nothing is stored", async () => {
    const stack = await startStack();
    try {
      const before = await stack.keys();
      const error = await stack.client
        .createImage(request("unsealed", randomBytes(32).toString("base64")))
        .catch((e: unknown) => ConnectError.from(e));
      expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
      expect((error as ConnectError).rawMessage).toMatch(
        /^image\.image_encryption_key\.raw_key: .* no SECRETS_KEY_FILE .* kms_key_name instead/,
      );
      const both = await stack.client
        .createImage(
          request(
            "unsealed",
            randomBytes(32).toString("base64"),
            randomBytes(256).toString("base64"),
          ),
        )
        .catch((e: unknown) => ConnectError.from(e));
      expect((both as ConnectError).rawMessage).toMatch(
        /^image\.image_encryption_key\.raw_key, image\.source_image_encryption_key\.rsa_encrypted_key: /,
      );
      expect(await stack.keys()).toEqual(before);
    } finally {
      await stack.close();
    }
  });
});
