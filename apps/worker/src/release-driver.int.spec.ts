// The release driver against the emulator's Compute and a real Redis (the family claim): a
// promotion and a rollback reach what their family resolves to; a run cut short after any call
// and run again from its committed state finishes the same release without a second call of any
// move; two releases of one family at once end with the later one's choice.
import { startComputeEmulator, type ComputeEmulator } from "@imagesvc/compute-emulator";
import { createComputeClient, type ComputeClient } from "@imagesvc/compute";
import type { ReleaseLifecycle, ReleaseRequest } from "@imagesvc/lifecycle";
import {
  createFamilyClaims,
  createReleaseSchedules,
  createRolledBack,
  type FamilyClaims,
  type ReleaseSchedules,
} from "@imagesvc/operations";
import { useTestRedis, type TestRedis } from "@imagesvc/testing";
import { OAuth2Client } from "google-auth-library";
import { Redis } from "ioredis";
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runRelease } from "./release-driver";

const PROJECT = "my-project";
const TOKEN = "release-token";
let emulator: ComputeEmulator;
let compute: ComputeClient;
let redis: TestRedis;
let connection: Redis;
let claims: FamilyClaims;
let schedules: ReleaseSchedules;

beforeAll(async () => {
  emulator = await startComputeEmulator({
    staticTokens: [TOKEN],
    operationDurationMs: 0,
    waitCapMs: 50,
  });
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: TOKEN, expiry_date: Date.now() + 3_600_000 });
  compute = createComputeClient({
    endpoint: emulator.url,
    auth,
    timeoutMs: 5000,
    waitTimeoutMs: 5000,
  });
});
afterAll(async () => {
  await emulator.close();
});
beforeEach(async () => {
  redis = await useTestRedis();
  connection = new Redis(redis.url);
  claims = createFamilyClaims(connection, redis.prefix.slice(0, -1));
  schedules = createReleaseSchedules(connection, redis.prefix.slice(0, -1));
  emulator.admin.reset();
  for (const name of ["web-1", "web-2", "web-3"]) {
    await compute.insertImage(
      PROJECT,
      { name, family: "web", sourceImage: "projects/debian-cloud/global/images/family/debian-12" },
      { requestId: randomUUID() },
    );
    await new Promise((r) => setTimeout(r, 5)); // distinct creation times
  }
});
afterEach(async () => {
  connection.disconnect();
  await redis.cleanup();
});

const deps = () => ({
  compute,
  claims,
  schedules,
  rolledBack: createRolledBack(connection, redis.prefix.slice(0, -1)),
  policy: { retryDelay: () => 10 },
  claimTtlMs: 10_000,
});
const resolves = async () => (await compute.getImageFromFamily(PROJECT, "web")).name;
const states = async () =>
  Object.fromEntries(
    (await compute.listImages(PROJECT, { filter: "family = web" })).map((i) => [
      i.name,
      (i["deprecated"] as { state?: string } | undefined)?.state ?? "ACTIVE",
    ]),
  );

/**
 * Runs `request` as operation `name` to DONE, or until commit number `stopAfter + 1`, where it
 * crashes: after that commit and before its call (`after`), or before it, after the previous
 * call was made (`before`). Resolves with what was committed last.
 */
async function release(
  name: string,
  request: ReleaseRequest,
  from: ReleaseLifecycle = { phase: "accepted" },
  stopAfter = Number.POSITIVE_INFINITY,
  crashes: "before" | "after" = "after",
): Promise<ReleaseLifecycle> {
  let committed = from;
  let commits = 0;
  try {
    return await runRelease(deps(), {
      project: PROJECT,
      operation: name,
      requestId: `rid-${name}`,
      request,
      lifecycle: from,
      signal: new AbortController().signal,
      commit: (decision) => {
        const crash = ++commits > stopAfter;
        if (!crash || crashes === "after") committed = decision.lifecycle;
        if (crash) throw new Error("crash");
        return Promise.resolve();
      },
    });
  } catch (e) {
    if ((e as Error).message !== "crash") throw e;
    return committed;
  }
}

describe("runRelease", () => {
  it("promotes an older image: it is what the family resolves to, the others DEPRECATED in its favour", async () => {
    expect(await resolves()).toBe("web-3");
    const done = await release("op-promote", { kind: "promote", image: "web-1" });
    expect(done).toMatchObject({ phase: "done", outcome: "released", target: "web-1" });
    expect(await resolves()).toBe("web-1");
    expect(await states()).toEqual({
      "web-1": "ACTIVE",
      "web-2": "DEPRECATED",
      "web-3": "DEPRECATED",
    });
    const web3 = await compute.getImage(PROJECT, "web-3");
    expect(web3["deprecated"]).toMatchObject({
      replacement: `projects/${PROJECT}/global/images/web-1`,
    });
    // The family is free again.
    expect(await claims.claim(PROJECT, "web", "someone-else", 1000)).toEqual({ claimed: true });
  });

  it("rolls back to the image before the current one, which becomes OBSOLETE when asked", async () => {
    const done = await release("op-rollback", { kind: "rollback", family: "web", obsolete: true });
    expect(done).toMatchObject({ outcome: "released", target: "web-2" });
    expect(await resolves()).toBe("web-2");
    expect(await states()).toMatchObject({ "web-2": "ACTIVE", "web-3": "OBSOLETE" });
  });

  it("rolls back twice: the second goes further back, not back to the image the first left", async () => {
    await release("op-back-1", { kind: "rollback", family: "web" });
    expect(await resolves()).toBe("web-2");
    await release("op-back-2", { kind: "rollback", family: "web" });
    expect(await resolves()).toBe("web-1");
    // Promoting web-3 again makes it trusted: a rollback from web-1 may go back to it then.
    await release("op-again", { kind: "promote", image: "web-3" });
    await release("op-back-3", { kind: "rollback", family: "web" });
    expect(await resolves()).toBe("web-1");
  });

  it("refuses an image that does not exist, and frees the family", async () => {
    expect(await release("op-missing", { kind: "promote", image: "web-9" })).toMatchObject({
      outcome: "refused",
      message: "image web-9 does not exist",
    });
  });

  it.each([1, 2, 3, 4].flatMap((n) => [[n, "before"] as const, [n, "after"] as const]))(
    "finishes a promotion cut short at commit %i (%s its call), with each move made once",
    async (stopAfter, crashes) => {
      const request: ReleaseRequest = { kind: "promote", image: "web-1" };
      const cut = await release("op-cut", request, { phase: "accepted" }, stopAfter, crashes);
      const done = await release("op-cut", request, cut);
      expect(done).toMatchObject({ outcome: "released", target: "web-1" });
      expect(await resolves()).toBe("web-1");
      expect(await states()).toEqual({
        "web-1": "ACTIVE",
        "web-2": "DEPRECATED",
        "web-3": "DEPRECATED",
      });
      // Three moves (web-1 made ACTIVE, which also drops any schedule it had; web-2 and web-3
      // DEPRECATED); a crash after a call and before its commit repeats that one call, under its
      // request id.
      const calls = emulator.admin.state().calls["images.deprecate"] ?? 0;
      expect(calls).toBeGreaterThanOrEqual(3);
      expect(calls).toBeLessThanOrEqual(crashes === "before" ? 4 : 3);
    },
  );

  it("serialises two releases of one family: the one that finishes last has the family", async () => {
    const finished: string[] = [];
    const promote = (operation: string, image: string) =>
      release(operation, { kind: "promote", image }).then((l) => {
        finished.push(image);
        return l;
      });
    await Promise.all([promote("op-a", "web-1"), promote("op-b", "web-2")]);
    expect(finished).toHaveLength(2);
    const active = Object.entries(await states()).filter(([, s]) => s === "ACTIVE");
    expect(active).toEqual([[finished.at(-1), "ACTIVE"]]);
    expect(await resolves()).toBe(finished.at(-1));
  });
});
