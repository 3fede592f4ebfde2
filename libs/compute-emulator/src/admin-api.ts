import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody, sendJson } from "./http-io";
import type { EmulatorAdmin } from "./emulator";

/**
 * The admin HTTP API, for curl and for tests in other processes. No auth: bind the emulator to
 * loopback. Every answer is JSON; a bad request gets 400 with `{"error": "..."}` saying what to fix.
 *
 * - `GET /admin/state`: images, operations, objects, open uploads and upload bytes received,
 *   insert calls per requestId, calls per method.
 * - `POST /admin/reset`: forget images, operations, requestIds, counts and faults.
 * - `GET|POST|DELETE /admin/faults`: list, add (one rule or an array), clear.
 * - `POST /admin/tokens/revoke`: invalidate every metadata-issued token.
 * - `GET|PATCH /admin/config`: operationDurationMs, waitCapMs, requestIdTtlMs,
 *   operationRetentionMs, timeScale, missingObjectPattern, quotaWritesPerMinute,
 *   quotaReadsPerMinute.
 * - `POST /admin/sources`: `{"source": "projects/P/zones/Z/disks/D", "key": {"rawKey": "..."}}`
 *   makes that source encrypted with the key, so an insert from it needs the key.
 */
export async function handleAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  admin: EmulatorAdmin,
): Promise<void> {
  const route = `${req.method ?? "GET"} ${url.pathname.replace(/\/$/, "")}`;
  const json = async (): Promise<unknown> => {
    const text = await readBody(req);
    try {
      return text === "" ? {} : (JSON.parse(text) as unknown);
    } catch {
      throw new RangeError("the body is not valid JSON");
    }
  };
  /** Routes whose answer is one call's result, with no body to read. */
  const simple: Record<string, (() => unknown) | undefined> = {
    "GET /admin/state": () => admin.state(),
    "POST /admin/reset": () => (admin.reset(), { reset: true }),
    "GET /admin/faults": () => ({ faults: admin.faults() }),
    "DELETE /admin/faults": () => (admin.clearFaults(), { faults: [] }),
    "POST /admin/tokens/revoke": () => (admin.revokeTokens(), { revoked: true }),
    "GET /admin/config": () => admin.config(),
  };
  try {
    const answer = simple[route];
    if (answer !== undefined) {
      sendJson(res, 200, answer());
      return;
    }
    switch (route) {
      case "POST /admin/faults": {
        const body = await json();
        const added = (Array.isArray(body) ? body : [body]).map((rule) => admin.addFault(rule));
        sendJson(res, 200, { added });
        return;
      }
      case "PATCH /admin/config":
        admin.configure((await json()) as Record<string, never>);
        sendJson(res, 200, admin.config());
        return;
      case "POST /admin/sources": {
        const body = (await json()) as { source?: unknown; key?: unknown };
        if (typeof body.source !== "string" || typeof body.key !== "object" || body.key === null)
          throw new RangeError(
            'want {"source": "projects/P/zones/Z/disks/D", "key": {"rawKey" | "rsaEncryptedKey" | "kmsKeyName": "..."}}',
          );
        admin.encryptSource(body.source, body.key as Record<string, unknown>);
        sendJson(res, 200, { source: body.source });
        return;
      }
      default:
        sendJson(res, 404, { error: `no admin route ${route}; see the emulator README` });
    }
  } catch (e) {
    if (e instanceof RangeError) sendJson(res, 400, { error: e.message });
    else throw e;
  }
}
