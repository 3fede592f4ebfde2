import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { startComputeEmulator, type ComputeEmulator, type EmulatorOptions } from "./index";

const TOKEN = "t0ken";
const SOURCE = "https://storage.googleapis.com/my-bucket/web.tar.gz";
const running: ComputeEmulator[] = [];

async function start(options: EmulatorOptions = {}): Promise<ComputeEmulator> {
  const emulator = await startComputeEmulator({
    staticTokens: [TOKEN],
    operationDurationMs: 200,
    ...options,
  });
  running.push(emulator);
  return emulator;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.close()));
});

/** A Compute call with the static token. */
function computeCall(
  emulator: ComputeEmulator,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = TOKEN,
) {
  return fetch(`${emulator.url}/compute/v1/projects/p-123456/${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      "content-type": "application/json",
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}
const insert = (e: ComputeEmulator, body: unknown, requestId?: string) =>
  computeCall(
    e,
    "POST",
    `global/images${requestId === undefined ? "" : `?requestId=${requestId}`}`,
    body,
  );
/** Inserts image `name` from SOURCE; Compute's answer, an operation. */
const inserted = async (e: ComputeEmulator, name: string, requestId?: string) =>
  (await (await insert(e, { name, rawDisk: { source: SOURCE } }, requestId)).json()) as {
    name: string;
    status: string;
  };
/** Compute's answer to a wait on operation `name`. */
const waited = async (e: ComputeEmulator, name: string) =>
  (await (await computeCall(e, "POST", `global/operations/${name}/wait`)).json()) as {
    status: string;
  };
const admin = (e: ComputeEmulator, method: string, path: string, body?: unknown) =>
  fetch(`${e.url}/admin/${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe("Compute behaviour", () => {
  it("answers 401 in Compute's shape without a valid bearer token", async () => {
    const e = await start();
    for (const token of [null, "wrong"]) {
      const res = await computeCall(e, "GET", "global/images", undefined, token);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
      const body = (await res.json()) as {
        error: { code: number; errors: { reason: string; location: string }[] };
      };
      expect(body.error.code).toBe(401);
      expect(body.error.errors[0]).toMatchObject({
        reason: token === null ? "required" : "authError",
        location: "Authorization",
      });
    }
  });

  it.each([
    [
      { name: "web", rawDisk: { source: SOURCE }, colour: "red" },
      /Unknown name "colour" at 'resource': Cannot find field/,
    ],
    [
      { name: "web", rawDisk: { source: SOURCE, compression: "gz" } },
      /Unknown name "compression" at 'resource.rawDisk'/,
    ],
    [
      { name: "Web", rawDisk: { source: SOURCE } },
      /Invalid value for field 'resource.name': 'Web'. Must be a match of regex/,
    ],
    [{ name: "web" }, /Must specify exactly one source for an image/],
    [
      { name: "web", rawDisk: { source: SOURCE }, sourceImage: "global/images/x" },
      /Must specify exactly one source/,
    ],
    [
      { name: "web", rawDisk: { source: "gs://my-bucket/web.tar.gz" } },
      /The provided source location was not a valid Google Cloud Storage object reference/,
    ],
    ["{not json", /Invalid JSON payload received/],
  ])("rejects the insert body %j with 400", async (body, message) => {
    const e = await start();
    const res = await insert(e, body);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: { message: string; errors: { reason: string }[] } };
    expect(json.error.message).toMatch(message);
    expect(e.admin.state().images).toEqual([]);
  });

  it.each(["00000000-0000-0000-0000-000000000000", "not-a-uuid"])(
    "rejects requestId %s",
    async (requestId) => {
      const e = await start();
      const res = await insert(e, { name: "web", rawDisk: { source: SOURCE } }, requestId);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
        /The provided request ID must be a valid UUID/,
      );
    },
  );

  it("returns the original operation for a repeated requestId, and forgets it after the TTL", async () => {
    const e = await start({ requestIdTtlMs: 150 });
    const requestId = randomUUID();
    const first = await inserted(e, "web", requestId);
    const again = await inserted(e, "web", requestId);
    expect(again.name).toBe(first.name);
    await new Promise((r) => setTimeout(r, 200));
    const late = await insert(e, { name: "web", rawDisk: { source: SOURCE } }, requestId);
    expect(late.status).toBe(409);
    expect(e.admin.state().insertCalls[requestId]).toBe(3);
    expect(e.admin.state().images).toHaveLength(1);
  });

  it("moves an operation PENDING → RUNNING with rising progress → DONE, and the image PENDING → READY", async () => {
    const e = await start({ operationDurationMs: 400 });
    const op = await inserted(e, "web");
    expect(op.status).toBe("PENDING");
    const seen: { status: string; progress: number }[] = [];
    for (;;) {
      const now = (await (await computeCall(e, "GET", `global/operations/${op.name}`)).json()) as {
        status: string;
        progress: number;
        startTime?: string;
        endTime?: string;
      };
      seen.push({ status: now.status, progress: now.progress });
      if (now.status === "RUNNING") expect(now.startTime).toEqual(expect.any(String));
      if (now.status === "DONE") {
        expect(now.endTime).toEqual(expect.any(String));
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen.some((s) => s.status === "RUNNING" && s.progress > 0 && s.progress < 100)).toBe(
      true,
    );
    expect(seen.map((s) => s.progress)).toEqual(seen.map((s) => s.progress).sort((a, b) => a - b));
    const order = ["PENDING", "RUNNING", "DONE"];
    expect(seen.map((s) => order.indexOf(s.status))).toEqual(
      seen.map((s) => order.indexOf(s.status)).sort(),
    );
    const image = (await (await computeCall(e, "GET", "global/images/web")).json()) as {
      status: string;
    };
    expect(image.status).toBe("READY");
  });

  it("blocks wait until DONE, or until the cap", async () => {
    const e = await start({ operationDurationMs: 10_000, waitCapMs: 150 });
    const op = await inserted(e, "web");
    const started = Date.now();
    const capped = await waited(e, op.name);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(capped.status).not.toBe("DONE");
    e.admin.configure({ waitCapMs: 60_000, operationDurationMs: 0 });
    const op2 = await inserted(e, "web2");
    expect(op2.status).toBe("DONE");
  });

  it("compresses Compute's time: a 45-minute import, its 2-minute waits and its hour of requestId memory, in proportion", async () => {
    const e = await start({
      timeScale: 1000,
      operationDurationMs: 45 * 60_000,
      waitCapMs: 120_000,
      requestIdTtlMs: 3_600_000,
    });
    const requestId = randomUUID();
    const op = await inserted(e, "web", requestId);
    expect(op.status).toBe("PENDING");
    const started = Date.now();
    const first = await waited(e, op.name);
    // Two minutes of Compute's time: 120 ms here, so the first wait answers long before DONE.
    expect(Date.now() - started).toBeGreaterThanOrEqual(115);
    expect(first.status).not.toBe("DONE");
    let last = first;
    while (last.status !== "DONE") last = await waited(e, op.name);
    // 45 minutes: 2.7 s; the requestId is still remembered (an hour: 3.6 s).
    expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
    const again = await inserted(e, "web", requestId);
    expect(again.name).toBe(op.name);
  });

  it("forgets a finished operation after its retention: get and wait answer 404, the image stays", async () => {
    const e = await start({ operationDurationMs: 0, operationRetentionMs: 150 });
    const op = await inserted(e, "web");
    expect((await computeCall(e, "GET", `global/operations/${op.name}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect((await computeCall(e, "GET", `global/operations/${op.name}`)).status).toBe(404);
    expect((await computeCall(e, "POST", `global/operations/${op.name}/wait`)).status).toBe(404);
    const list = (await (await computeCall(e, "GET", "global/operations")).json()) as {
      items?: unknown[];
    };
    expect(list.items ?? []).toEqual([]);
    const image = (await (await computeCall(e, "GET", "global/images/web")).json()) as {
      status: string;
    };
    expect(image.status).toBe("READY");
  });

  it("keeps the insert body's labels on the image", async () => {
    const e = await start();
    await insert(e, { name: "web", rawDisk: { source: SOURCE }, labels: { team: "a" } });
    const image = (await (await computeCall(e, "GET", "global/images/web")).json()) as {
      labels: Record<string, string>;
    };
    expect(image.labels).toEqual({ team: "a" });
  });

  it("answers for the insert but loses the answer with an after-phase fault, so a retry with the same requestId finds it", async () => {
    const e = await start();
    e.admin.addFault({
      route: "images.insert",
      effect: "error",
      status: 503,
      phase: "after",
      count: 1,
    });
    const requestId = randomUUID();
    const lost = await insert(e, { name: "web", rawDisk: { source: SOURCE } }, requestId);
    expect(lost.status).toBe(503);
    expect(e.admin.state().images).toHaveLength(1);
    const retry = await insert(e, { name: "web", rawDisk: { source: SOURCE } }, requestId);
    expect(retry.status).toBe(200);
    expect(e.admin.state().images).toHaveLength(1);
  });

  it("adds latency", async () => {
    const e = await start({
      faults: [{ route: "images.list", effect: "latency", latencyMs: 120 }],
    });
    const started = Date.now();
    expect((await computeCall(e, "GET", "global/images")).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(115);
  });

  it("lands an insert slower than its client's timeout after the client gave up", async () => {
    const e = await start({
      faults: [{ route: "images.insert", effect: "latency", latencyMs: 300, count: 1 }],
    });
    const requestId = randomUUID();
    const gaveUp = await fetch(
      `${e.url}/compute/v1/projects/p-123456/global/images?requestId=${requestId}`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "late", rawDisk: { source: SOURCE } }),
        signal: AbortSignal.timeout(50),
      },
    ).catch((err: unknown) => err);
    expect(gaveUp).toBeInstanceOf(Error);
    expect(e.admin.state().images).toEqual([]);
    await new Promise((r) => setTimeout(r, 400));
    expect(e.admin.state().images.map((i) => i.name)).toEqual(["late"]);
    // The same requestId now answers with the operation the late insert made.
    const again = await insert(e, { name: "late", rawDisk: { source: SOURCE } }, requestId);
    expect(again.status).toBe(200);
    expect(e.admin.state().images).toHaveLength(1);
  });

  it("answers 404 notFound for the next N reads of a resource with a notFound fault, as right after a write", async () => {
    const e = await start();
    await insert(e, { name: "web", rawDisk: { source: SOURCE } }, randomUUID());
    e.admin.addFault({ route: "images.get", effect: "notFound", count: 2 });
    const statuses: number[] = [];
    let body: unknown;
    for (let i = 0; i < 3; i++) {
      const res = await computeCall(e, "GET", "global/images/web");
      statuses.push(res.status);
      body ??= await res.json();
    }
    expect(statuses).toEqual([404, 404, 200]);
    expect(body).toMatchObject({
      error: {
        code: 404,
        errors: [
          {
            reason: "notFound",
            message: "The resource 'projects/p-123456/global/images/web' was not found",
          },
        ],
      },
    });
  });

  it("repeats rate-based faults exactly under the same seed", async () => {
    const pattern = async (seed: number) => {
      const e = await start({
        seed,
        faults: [{ route: "images.list", effect: "error", status: 503, rate: 0.5 }],
      });
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++)
        statuses.push((await computeCall(e, "GET", "global/images")).status);
      return statuses;
    };
    const a = await pattern(7);
    expect(await pattern(7)).toEqual(a);
    expect(await pattern(8)).not.toEqual(a);
    expect(a.filter((s) => s === 503).length).toBeGreaterThan(5);
    expect(a.filter((s) => s === 200).length).toBeGreaterThan(5);
  });
});

describe("metadata server", () => {
  it("requires Metadata-Flavor: Google and sends it back", async () => {
    const e = await start();
    const path = `${e.url}/computeMetadata/v1/instance/service-accounts/default/token`;
    expect((await fetch(path)).status).toBe(403);
    const res = await fetch(path, { headers: { "Metadata-Flavor": "Google" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("metadata-flavor")).toBe("Google");
    const token = (await res.json()) as {
      access_token: string;
      expires_in: number;
      token_type: string;
    };
    expect(token).toMatchObject({ expires_in: 3599, token_type: "Bearer" });
    expect(
      (await computeCall(e, "GET", "global/images", undefined, token.access_token)).status,
    ).toBe(200);
    e.admin.revokeTokens();
    expect(
      (await computeCall(e, "GET", "global/images", undefined, token.access_token)).status,
    ).toBe(401);
  });
});

describe("admin API", () => {
  it("adds, lists and clears faults, shows state and resets", async () => {
    const e = await start();
    const added = await admin(e, "POST", "faults", [
      { route: "images.insert", effect: "error", status: 429, count: 1 },
      { route: "*", effect: "latency", latencyMs: 1 },
    ]);
    expect(added.status).toBe(200);
    expect(
      ((await (await admin(e, "GET", "faults")).json()) as { faults: unknown[] }).faults,
    ).toHaveLength(2);
    const requestId = randomUUID();
    expect((await insert(e, { name: "web", rawDisk: { source: SOURCE } }, requestId)).status).toBe(
      429,
    );
    expect((await insert(e, { name: "web", rawDisk: { source: SOURCE } }, requestId)).status).toBe(
      200,
    );
    const state = (await (await admin(e, "GET", "state")).json()) as {
      images: { name: string }[];
      insertCalls: Record<string, number>;
      calls: Record<string, number>;
    };
    expect(state.images.map((i) => i.name)).toEqual(["web"]);
    expect(state.insertCalls).toEqual({ [requestId]: 2 });
    expect(state.calls["images.insert"]).toBe(2);
    expect((await admin(e, "DELETE", "faults")).status).toBe(200);
    expect((await admin(e, "POST", "reset")).status).toBe(200);
    expect(e.admin.state()).toEqual({
      images: [],
      operations: [],
      objects: [],
      uploads: { open: [], bytesReceived: 0 },
      insertCalls: {},
      traceparents: [],
      calls: {},
      quotaRefusals: {},
      insertParams: {},
    });
  });

  it.each([
    ["faults", "POST", { route: "images.insert", effect: "explode" }, /"effect"/],
    ["faults", "POST", { route: "images.insert", effect: "error" }, /needs "status"/],
    [
      "faults",
      "POST",
      { route: "images.insert", effect: "error", status: 503, rate: 2 },
      /"rate" must be between 0 and 1/,
    ],
    ["config", "PATCH", { waitCapMs: -1 }, /waitCapMs must be a number >= 0/],
    [
      "config",
      "PATCH",
      { missingObjectPattern: "(" },
      /missingObjectPattern is not a regular expression/,
    ],
  ])("answers a bad %s %s with 400 saying what to fix", async (path, method, body, message) => {
    const e = await start();
    const res = await admin(e, method, path, body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(message);
  });

  it("builds its links from baseUrl, and from 127.0.0.1 when it listens on every interface", async () => {
    const named = await startComputeEmulator({ baseUrl: "http://compute-emulator:8085/" });
    const open = await startComputeEmulator({ host: "0.0.0.0" });
    try {
      expect(named.url).toBe("http://compute-emulator:8085");
      expect(open.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      await expect(startComputeEmulator({ baseUrl: "compute-emulator:8085" })).rejects.toThrow(
        /baseUrl must be http\(s\):\/\/HOST\[:PORT\]/,
      );
    } finally {
      await named.close();
      await open.close();
    }
  });

  it("changes config at run time", async () => {
    const e = await start();
    const res = await admin(e, "PATCH", "config", {
      operationDurationMs: 0,
      missingObjectPattern: "broken",
    });
    expect(await res.json()).toMatchObject({
      operationDurationMs: 0,
      missingObjectPattern: "broken",
      operationRetentionMs: 86_400_000,
      timeScale: 1,
    });
    const bad = await admin(e, "PATCH", "config", { timeScale: 0 });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/timeScale must be a number > 0/);
    const op = (await (
      await insert(e, {
        name: "web",
        rawDisk: { source: "https://storage.googleapis.com/b-1/broken.tar.gz" },
      })
    ).json()) as { status: string; httpErrorStatusCode: number };
    expect(op).toMatchObject({ status: "DONE", httpErrorStatusCode: 404 });
  });
});
