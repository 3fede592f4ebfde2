// Google-signed ID tokens for tests: a local server serves the signing certificates, as Google
// serves its own, and `idToken` signs tokens as Google does (RS256, with the key's id).
import { freePort } from "@imagesvc/testing";
import { createSign, generateKeyPairSync, type KeyObject } from "node:crypto";
import { createServer } from "node:http";

export interface GoogleIdTokens {
  /** For AuthConfig's `certsUrl`. */
  readonly certsUrl: string;
  readonly audience: string;
  /** A token for `alice@example.com` (verified), with `claims` on top; `undefined` drops one. */
  idToken(claims?: Record<string, unknown>, key?: KeyObject): string;
  /** A key Google never published, for forged tokens. */
  readonly impostorKey: KeyObject;
  close(): void;
}

export async function startGoogleIdTokens(
  audience = "https://images.internal.example",
): Promise<GoogleIdTokens> {
  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const impostor = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = "test-key-1";
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      "content-type": "application/json",
      "cache-control": "public, max-age=3600",
    });
    res.end(JSON.stringify({ [kid]: keys.publicKey.export({ type: "spki", format: "pem" }) }));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    certsUrl: `http://127.0.0.1:${port}/oauth2/v1/certs`,
    audience,
    impostorKey: impostor.privateKey,
    idToken(claims = {}, key = keys.privateKey) {
      const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
      const now = Math.floor(Date.now() / 1000);
      const payload = {
        iss: "https://accounts.google.com",
        aud: audience,
        sub: "1234567890",
        email: "alice@example.com",
        email_verified: true,
        iat: now,
        exp: now + 600,
        ...claims,
      };
      const body = `${b64({ alg: "RS256", kid, typ: "JWT" })}.${b64(payload)}`;
      return `${body}.${createSign("RSA-SHA256").update(body).sign(key).toString("base64url")}`;
    },
    close: () => server.close(),
  };
}
