import { create } from "@bufbuild/protobuf";
import { startComputeEmulator, type ComputeEmulator } from "@imagesvc/compute-emulator";
import { ImageSchema, Operation_Status, type Operation } from "@imagesvc/proto";
import { GoogleAuth, OAuth2Client } from "google-auth-library";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ComputeApiError,
  createComputeClient,
  type ComputeCallRecord,
  type ComputeClient,
} from "./index";

/** COMPUTE_TIMEOUT_MS and COMPUTE_WAIT_TIMEOUT_MS, as the deployment's defaults. */
const TIMEOUTS = { timeoutMs: 30_000, waitTimeoutMs: 150_000 };

const PROJECT = "my-project";
const TOKEN = "test-static-token";
const image = (name: string, object = "images/web.tar.gz") =>
  create(ImageSchema, {
    name,
    rawDisk: { source: `https://storage.googleapis.com/my-bucket/${object}` },
  });
const fastBackoff = { initialMs: 5, maxMs: 20 };

let emulator: ComputeEmulator;
let client: ComputeClient;
const calls: ComputeCallRecord[] = [];

/** Inserts image web with a fresh request id. */
const insertWeb = () => client.insertImage(PROJECT, image("web"), { requestId: randomUUID() });
/** The emulator answers `route` with HTTP `status`; `rule` adds to the fault (reason, count…). */
const addError = (route: string, status: number, rule: Record<string, unknown> = {}) =>
  emulator.admin.addFault({ route, effect: "error", status, ...rule });

function staticAuth(token = TOKEN): OAuth2Client {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: token, expiry_date: Date.now() + 3_600_000 });
  return auth;
}

beforeAll(async () => {
  emulator = await startComputeEmulator({
    staticTokens: [TOKEN],
    operationDurationMs: 300,
    waitCapMs: 60,
  });
  client = createComputeClient({
    ...TIMEOUTS,
    endpoint: emulator.url,
    auth: staticAuth(),
    onCall: (c) => calls.push(c),
  });
});
afterEach(() => {
  emulator.admin.reset();
  emulator.admin.configure({ operationDurationMs: 300, waitCapMs: 60 });
  calls.length = 0;
});
afterAll(async () => {
  await emulator.close();
});

describe("createComputeClient against the emulator", () => {
  it("sends an image given as Compute's JSON as it is, labels included", async () => {
    const requestId = randomUUID();
    const inserted = await client.insertImage(
      PROJECT,
      {
        name: "as-json",
        rawDisk: { source: "https://storage.googleapis.com/my-bucket/images/web.tar.gz" },
        labels: { team: "web" },
      },
      { requestId },
    );
    await client.followOperation(PROJECT, inserted.name, { initial: inserted });
    expect(emulator.admin.state().images).toEqual([
      expect.objectContaining({ name: "as-json", labels: { team: "web" } }),
    ]);
  });

  it("inserts an image and follows its operation to DONE with rising progress", async () => {
    const requestId = randomUUID();
    const inserted = await client.insertImage(PROJECT, image("web"), { requestId });
    expect(inserted.status).toBe(Operation_Status.PENDING);
    expect(inserted.clientOperationId).toBe(requestId);
    expect(inserted.targetLink).toBe(
      `${emulator.url}/compute/v1/projects/${PROJECT}/global/images/web`,
    );

    const updates: Operation[] = [];
    const done = await client.followOperation(PROJECT, inserted.name, {
      initial: inserted,
      onUpdate: (op) => void updates.push(op),
    });
    expect(done.status).toBe(Operation_Status.DONE);
    expect(done.progress).toBe(100);
    expect(done.error).toBeUndefined();
    expect(done.targetId).toMatch(/^\d+$/);
    expect(done.endTime).not.toBe("");
    // Only real changes are reported, and progress never goes down.
    const progress = updates.map((u) => u.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(new Set(progress).size).toBe(progress.length);
    expect(updates.some((u) => u.status === Operation_Status.RUNNING)).toBe(true);
    expect(updates.at(-1)?.status).toBe(Operation_Status.DONE);

    expect((await client.getImage(PROJECT, "web")).status).toBe("READY");
    expect(calls[0]).toMatchObject({ method: "images.insert", status: 200, reason: "" });
  });

  it("makes no wait call when the insert already answers DONE", async () => {
    emulator.admin.configure({ operationDurationMs: 0 });
    const inserted = await client.insertImage(PROJECT, image(`now-${randomUUID().slice(0, 8)}`), {
      requestId: randomUUID(),
    });
    expect(inserted.status).toBe(Operation_Status.DONE);
    const done = await client.followOperation(PROJECT, inserted.name, { initial: inserted });
    expect(done).toBe(inserted);
    expect(calls.map((c) => c.method)).toEqual(["images.insert"]);
  });

  it("reports 409 alreadyExists as a final error", async () => {
    await insertWeb();
    const error = await insertWeb().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ComputeApiError);
    expect(error).toMatchObject({ httpStatus: 409, reason: "alreadyExists", retryable: false });
    expect((error as Error).message).toBe(
      `The resource 'projects/${PROJECT}/global/images/web' already exists`,
    );
  });

  it("reports 400 invalid as a final error", async () => {
    const bad = create(ImageSchema, {
      name: "web",
      rawDisk: { source: "gs://my-bucket/web.tar.gz" },
    });
    const error = await client
      .insertImage(PROJECT, bad, { requestId: randomUUID() })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ httpStatus: 400, reason: "invalid", retryable: false });
    expect((error as Error).message).toMatch(/not a valid Google Cloud Storage object reference/);
  });

  it("resolves with Compute's error fields when the operation fails after being accepted", async () => {
    const inserted = await client.insertImage(PROJECT, image("web", "missing.tar.gz"), {
      requestId: randomUUID(),
    });
    const done = await client.followOperation(PROJECT, inserted.name, { initial: inserted });
    expect(done.status).toBe(Operation_Status.DONE);
    expect(done.httpErrorStatusCode).toBe(404);
    expect(done.httpErrorMessage).toBe("NOT FOUND");
    expect(done.error?.errors[0]).toMatchObject({
      code: "RESOURCE_NOT_FOUND",
      location: "rawDisk.source",
    });
    expect((await client.getImage(PROJECT, "web")).status).toBe("FAILED");
  });

  it.each([
    [429, undefined, "rateLimitExceeded"],
    [503, undefined, "backendError"],
    [403, "rateLimitExceeded", "rateLimitExceeded"],
  ])("classifies %i %s as retryable", async (status, reason, expected) => {
    addError("images.insert", status, { ...(reason && { reason }), count: 1 });
    const error = await insertWeb().catch((e: unknown) => e);
    expect(error).toMatchObject({ httpStatus: status, reason: expected, retryable: true });
    expect(emulator.admin.state().images).toEqual([]);
  });

  it("classifies a 403 forbidden as final", async () => {
    addError("images.insert", 403, {
      reason: "forbidden",
      message: "Required 'compute.images.create' permission",
      count: 1,
    });
    const error = await insertWeb().catch((e: unknown) => e);
    expect(error).toMatchObject({ httpStatus: 403, reason: "forbidden", retryable: false });
  });

  it("classifies a reset connection as a retryable network error", async () => {
    emulator.admin.addFault({ route: "globalOperations.get", effect: "reset", count: 1 });
    const error = await client.getOperation(PROJECT, "operation-1").catch((e: unknown) => e);
    expect(error).toMatchObject({ httpStatus: 0, reason: "networkError", retryable: true });
  });

  it("sends the token and call headers, and reads Retry-After from a 429", async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(429, { "content-type": "application/json", "retry-after": "7" });
      res.end(
        JSON.stringify({
          error: {
            code: 429,
            message: "Rate Limit Exceeded",
            errors: [{ reason: "rateLimitExceeded", message: "Rate Limit Exceeded" }],
          },
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const limited = createComputeClient({
        ...TIMEOUTS,
        endpoint: `http://127.0.0.1:${String(port)}`,
        auth: staticAuth(),
      });
      const error = await limited
        .getOperation(PROJECT, "operation-1", { headers: { traceparent: "00-abc-def-01" } })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        httpStatus: 429,
        reason: "rateLimitExceeded",
        retryable: true,
        retryAfterMs: 7000,
      });
      expect(seen[0]).toMatchObject({
        authorization: `Bearer ${TOKEN}`,
        traceparent: "00-abc-def-01",
      });
    } finally {
      server.close();
    }
  });

  it("times out a call that takes too long", async () => {
    const slow = createComputeClient({
      ...TIMEOUTS,
      endpoint: emulator.url,
      auth: staticAuth(),
      timeoutMs: 50,
    });
    emulator.admin.addFault({ route: "images.get", effect: "latency", latencyMs: 1000, count: 1 });
    const error = await slow.getImage(PROJECT, "web").catch((e: unknown) => e);
    expect(error).toMatchObject({ httpStatus: 0, reason: "timeout", retryable: true });
  });

  it("follows through 429, 503 and 403 rateLimitExceeded on wait", async () => {
    const inserted = await insertWeb();
    addError("globalOperations.wait", 503, { count: 2 });
    addError("globalOperations.wait", 429, { count: 2 });
    addError("globalOperations.wait", 403, { count: 1 });
    const done = await client.followOperation(PROJECT, inserted.name, {
      initial: inserted,
      backoff: fastBackoff,
    });
    expect(done.status).toBe(Operation_Status.DONE);
    const failed = calls.filter((c) => c.method === "globalOperations.wait" && c.status >= 400);
    expect(failed.map((c) => `${c.status} ${c.reason}`)).toEqual([
      "503 backendError",
      "503 backendError",
      "429 rateLimitExceeded",
      "429 rateLimitExceeded",
      "403 rateLimitExceeded",
    ]);
  });

  it("stops following on a final error", async () => {
    const inserted = await insertWeb();
    addError("globalOperations.wait", 403, { reason: "forbidden", count: 1 });
    await expect(
      client.followOperation(PROJECT, inserted.name, { backoff: fastBackoff }),
    ).rejects.toMatchObject({ httpStatus: 403, reason: "forbidden" });
  });

  it("gives up after maxConsecutiveErrors transient failures", async () => {
    const inserted = await insertWeb();
    addError("globalOperations.wait", 503);
    await expect(
      client.followOperation(PROJECT, inserted.name, {
        backoff: fastBackoff,
        maxConsecutiveErrors: 4,
      }),
    ).rejects.toMatchObject({ httpStatus: 503 });
    expect(calls.filter((c) => c.method === "globalOperations.wait")).toHaveLength(4);
  });

  it("retries a 404 on a fresh operation, and not after the grace period", async () => {
    const inserted = await insertWeb();
    addError("globalOperations.wait", 404, { reason: "notFound", count: 2 });
    await expect(
      client.followOperation(PROJECT, inserted.name, { backoff: fastBackoff }),
    ).resolves.toMatchObject({ status: Operation_Status.DONE });
    await expect(
      client.followOperation(PROJECT, "operation-unknown", {
        backoff: fastBackoff,
        notFoundGraceMs: 0,
      }),
    ).rejects.toMatchObject({ httpStatus: 404 });
  });

  it("follows a wait that returns early, before DONE, through to DONE", async () => {
    emulator.admin.configure({ operationDurationMs: 200, waitCapMs: 60_000 });
    emulator.admin.addFault({ route: "globalOperations.wait", effect: "waitEarly", count: 5 });
    const inserted = await insertWeb();
    const done = await client.followOperation(PROJECT, inserted.name, { initial: inserted });
    expect(done.status).toBe(Operation_Status.DONE);
    // Five early answers, then one that blocked until DONE.
    expect(emulator.admin.state().calls["globalOperations.wait"]).toBe(6);
  });

  it("uses one insert and one wait when the operation finishes within a wait", async () => {
    emulator.admin.configure({ operationDurationMs: 100, waitCapMs: 60_000 });
    const inserted = await insertWeb();
    await client.followOperation(PROJECT, inserted.name, { initial: inserted });
    expect(emulator.admin.state().calls).toEqual({
      "images.insert": 1,
      "globalOperations.wait": 1,
    });
  });

  it("uses one wait per operation even when the event loop is busy while waits start", async () => {
    // A busy loop leaves libuv's cached clock behind, and timers set from it fire early by
    // Date.now(); the emulator's wait must still not answer before the operation is DONE.
    emulator.admin.configure({ operationDurationMs: 40, waitCapMs: 60_000 });
    const busy = setInterval(() => {
      const until = performance.now() + 15;
      while (performance.now() < until);
    }, 1);
    try {
      await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const inserted = await client.insertImage(PROJECT, image(`busy-${String(i)}`), {
            requestId: randomUUID(),
          });
          await client.followOperation(PROJECT, inserted.name, { initial: inserted });
        }),
      );
    } finally {
      clearInterval(busy);
    }
    expect(emulator.admin.state().calls).toEqual({
      "images.insert": 200,
      "globalOperations.wait": 200,
    });
  });

  it("stops promptly when the signal aborts", async () => {
    emulator.admin.configure({ operationDurationMs: 60_000, waitCapMs: 60_000 });
    const inserted = await insertWeb();
    const controller = new AbortController();
    const started = Date.now();
    const following = client.followOperation(PROJECT, inserted.name, { signal: controller.signal });
    setTimeout(() => {
      controller.abort(new Error("shutting down"));
    }, 100);
    await expect(following).rejects.toThrow("shutting down");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("makes exactly one image from 20 concurrent inserts with one requestId", async () => {
    const requestId = randomUUID();
    const ops = await Promise.all(
      Array.from({ length: 20 }, () => client.insertImage(PROJECT, image("web"), { requestId })),
    );
    expect(new Set(ops.map((o) => o.name)).size).toBe(1);
    const state = emulator.admin.state();
    expect(state.images).toHaveLength(1);
    expect(state.operations).toHaveLength(1);
    expect(state.insertCalls[requestId]).toBe(20);
  });

  it("refreshes credentials once on 401 and retries", async () => {
    const auth = staticAuth("not-a-valid-token");
    let refreshed = 0;
    // A stand-in for a real refresh: after setCredentials({}) the client asks for a token again.
    auth.refreshHandler = () => {
      refreshed += 1;
      return Promise.resolve({ access_token: TOKEN, expiry_date: Date.now() + 3_600_000 });
    };
    const c = createComputeClient({
      ...TIMEOUTS,
      endpoint: emulator.url,
      auth,
      onCall: (r) => calls.push(r),
    });
    await expect(c.getOperation(PROJECT, "operation-x")).rejects.toMatchObject({ httpStatus: 404 });
    expect(refreshed).toBe(1);
  });

  it("gives up after one refresh when the new token is refused too", async () => {
    const auth = staticAuth("bad-1");
    auth.refreshHandler = () =>
      Promise.resolve({ access_token: "bad-2", expiry_date: Date.now() + 3_600_000 });
    const c = createComputeClient({
      ...TIMEOUTS,
      endpoint: emulator.url,
      auth,
    });
    await expect(c.getOperation(PROJECT, "operation-x")).rejects.toMatchObject({
      httpStatus: 401,
      reason: "authError",
    });
  });
});

describe("credentials from the metadata server", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it("gets a token through google-auth-library and refreshes it after a 401", async () => {
    process.env["GCE_METADATA_HOST"] = emulator.metadataHost;
    process.env["METADATA_SERVER_DETECTION"] = "assume-present";
    const c = createComputeClient({
      ...TIMEOUTS,
      endpoint: emulator.url,
      auth: new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/compute"] }),
    });
    const inserted = await c.insertImage(PROJECT, image("web"), { requestId: randomUUID() });
    expect(inserted.user).toBe("emulator@emulator-project.iam.gserviceaccount.com");
    expect(emulator.admin.state().calls["metadata.token"]).toBe(1);

    emulator.admin.revokeTokens();
    await expect(c.getOperation(PROJECT, inserted.name)).resolves.toMatchObject({
      name: inserted.name,
    });
    expect(emulator.admin.state().calls["metadata.token"]).toBe(2);
  });

  it("makes the release calls: deprecate, getFromFamily, list with a filter, labels, IAM, delete", async () => {
    const ready = async (name: string) => {
      const op = await client.insertImage(
        PROJECT,
        create(ImageSchema, { ...image(name), family: "web" }),
        { requestId: randomUUID() },
      );
      await client.followOperation(PROJECT, op.name, { initial: op });
    };
    await ready("web-1");
    await ready("web-2");
    expect((await client.getImageFromFamily(PROJECT, "web")).name).toBe("web-2");

    const deprecate = await client.deprecateImage(
      PROJECT,
      "web-2",
      { state: "DEPRECATED", replacement: `projects/${PROJECT}/global/images/web-1` },
      { requestId: randomUUID() },
    );
    expect(deprecate).toMatchObject({ operationType: "deprecate", status: Operation_Status.DONE });
    expect((await client.getImageFromFamily(PROJECT, "web")).name).toBe("web-1");
    expect(
      (await client.listImages(PROJECT, { filter: "family = web AND -deprecated.state:*" })).map(
        (i) => i.name,
      ),
    ).toEqual(["web-1"]);
    await client.deprecateImage(PROJECT, "web-2", undefined, { requestId: randomUUID() });
    expect((await client.getImageFromFamily(PROJECT, "web")).name).toBe("web-2");

    const labelled = await client.getImage(PROJECT, "web-1");
    await client.setImageLabels(
      PROJECT,
      "web-1",
      { keep: "true" },
      String(labelled["labelFingerprint"]),
      {
        requestId: randomUUID(),
      },
    );
    expect((await client.getImage(PROJECT, "web-1"))["labels"]).toEqual({ keep: "true" });
    const stale = await client
      .setImageLabels(PROJECT, "web-1", {}, String(labelled["labelFingerprint"]), {
        requestId: randomUUID(),
      })
      .catch((e: unknown) => e);
    expect(stale).toMatchObject({ httpStatus: 412, reason: "conditionNotMet" });

    const policy = await client.getImageIamPolicy(PROJECT, "web-1");
    const shared = await client.setImageIamPolicy(PROJECT, "web-1", {
      ...policy,
      bindings: [{ role: "roles/compute.imageUser", members: ["group:boot@example.com"] }],
    });
    expect(shared.bindings).toEqual([
      { role: "roles/compute.imageUser", members: ["group:boot@example.com"] },
    ]);
    const lost = await client.setImageIamPolicy(PROJECT, "web-1", policy).catch((e: unknown) => e);
    expect(lost).toMatchObject({ httpStatus: 412, reason: "conditionNotMet" });

    const deletion = await client.deleteImage(PROJECT, "web-1", { requestId: randomUUID() });
    expect(deletion).toMatchObject({ operationType: "delete", status: Operation_Status.DONE });
    expect((await client.listImages(PROJECT)).map((i) => i.name)).toEqual(["web-2"]);
  });
});
