// Image releases end to end, against the built gateway and worker, the emulator's Compute and a
// real Redis: three images of one family, each promoted in turn, a rollback, a scheduled
// deprecation the service enacts, keep-newest-2 retention deleting the oldest, a share visible in
// the emulator's IAM policy, and a cancel before any call; each release also under a worker
// kill -9 mid-way. After each: the family resolves to the image the last release chose, with
// exactly one ACTIVE image, and no Compute move was made twice under different request ids.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { createComputeClient, type ComputeClient } from "@imagesvc/compute";
import { Operation_Status, ReleaseMode, type ImageService, type Operation } from "@imagesvc/proto";
import type { SpawnedApp } from "@imagesvc/testing";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceClient, startStack, type Stack } from "./stack.test-helper";

const PROJECT = "my-project";
const TOKEN = "releases-e2e-token";
let stack: Stack;
let client: Client<typeof ImageService>;
let gateway: { readonly app: SpawnedApp; readonly url: string };
let worker: SpawnedApp;
let compute: ComputeClient;

// A killed worker's job is taken again once its lock lapses (1 s here).
const WORKER_ENV = { RECONCILE_INTERVAL_MS: "200", FAMILY_CLAIM_MS: "3000", JOB_LOCK_MS: "1000" };

beforeAll(async () => {
  // Compute's time runs 1000 times faster: an image's 30-minute creation takes 1.8 s here.
  stack = await startStack({
    emulator: { staticTokens: [TOKEN], timeScale: 1000, operationDurationMs: 1_800_000 },
  });
  gateway = await stack.spawnGateway({ COMPUTE_ENDPOINT: stack.emulator.url, PREFLIGHT: "off" });
  client = serviceClient(gateway.url);
  worker = await stack.startWorker(WORKER_ENV);
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: TOKEN, expiry_date: Date.now() + 3_600_000 });
  compute = createComputeClient({
    endpoint: stack.emulator.url,
    auth,
    timeoutMs: 5000,
    waitTimeoutMs: 5000,
  });
}, 60_000);
afterAll(async () => {
  await gateway.app.stop();
  await stack.close();
});

const waitDone = async (op: Operation): Promise<Operation> => {
  for (;;) {
    const now = await client.waitOperation({ project: PROJECT, operation: op.name });
    if (now.status === Operation_Status.DONE) return now;
  }
};
const states = async (family = "web") =>
  Object.fromEntries(
    (await compute.listImages(PROJECT, { filter: `family = ${family}` })).map((i) => [
      i.name,
      (i["deprecated"] as { state?: string } | undefined)?.state ?? "ACTIVE",
    ]),
  );
const resolves = async (family = "web") => (await compute.getImageFromFamily(PROJECT, family)).name;
const active = async (family = "web") =>
  Object.entries(await states(family))
    .filter(([, s]) => s === "ACTIVE")
    .map(([n]) => n);
const deprecateCalls = () => stack.emulator.admin.state().calls["images.deprecate"] ?? 0;

async function createImage(name: string, family = "web"): Promise<Operation> {
  const op = await client.createImage({
    project: PROJECT,
    image: { name, family, sourceImage: "projects/debian-cloud/global/images/family/debian-12" },
  });
  const done = await waitDone(op);
  expect(done.error).toBeUndefined();
  return done;
}

/** Kills the worker with SIGKILL once `when` holds of the operation's versions, then starts another. */
async function killMidway(op: Operation, when: (version: Operation) => boolean): Promise<void> {
  for await (const version of client.watchOperation({ project: PROJECT, operation: op.name })) {
    if (when(version)) break;
    if (version.status === Operation_Status.DONE) throw new Error("DONE before the kill");
  }
  await worker.stop("SIGKILL");
  worker = await stack.startWorker(WORKER_ENV);
}

describe("image releases", () => {
  it("promotes each of three images, then rolls back: the family resolves to each choice, with one ACTIVE image", async () => {
    for (const name of ["web-1", "web-2", "web-3"]) await createImage(name);
    expect(await resolves()).toBe("web-3");
    for (const name of ["web-1", "web-2", "web-3"]) {
      const done = await waitDone(await client.promoteImage({ project: PROJECT, image: name }));
      expect(done.error).toBeUndefined();
      expect(done.operationType).toBe("promote");
      expect(done.statusMessage).toContain(`web resolves to ${name}`);
      expect(await resolves()).toBe(name);
      expect(await active()).toEqual([name]);
    }
    const image2 = await compute.getImage(PROJECT, "web-2");
    expect(image2["deprecated"]).toMatchObject({
      state: "DEPRECATED",
      replacement: expect.stringContaining("/global/images/web-3") as unknown,
    });
    // The rollback is cut short by kill -9 between its two moves.
    stack.emulator.admin.addFault({ route: "images.deprecate", effect: "latency", latencyMs: 400 });
    let back: Operation;
    try {
      const rolling = await client.rollbackFamily({ project: PROJECT, family: "web" });
      await killMidway(rolling, (v) => v.statusMessage.startsWith("web-2 is ACTIVE"));
      back = await waitDone(rolling);
    } finally {
      stack.emulator.admin.clearFaults();
    }
    expect(back.error).toBeUndefined();
    expect(await resolves()).toBe("web-2");
    expect(await states()).toEqual({
      "web-1": "DEPRECATED",
      "web-2": "ACTIVE",
      "web-3": "DEPRECATED",
    });
    // The history shows the request as asked.
    const history = await client.getOperationHistory({ project: PROJECT, operation: back.name });
    expect(history.rollback).toMatchObject({ family: "web", obsolete: false });
    expect(history.versions.map((v) => v.status).at(-1)).toBe(Operation_Status.DONE);
  });

  it("finishes a promotion cut short by kill -9 between its Compute calls: one ACTIVE image, each move once", async () => {
    // Each images.deprecate takes 400 ms, so the kill lands between two of them.
    stack.emulator.admin.addFault({ route: "images.deprecate", effect: "latency", latencyMs: 400 });
    try {
      const before = deprecateCalls();
      const op = await client.promoteImage({ project: PROJECT, image: "web-1" });
      await killMidway(op, (v) => v.statusMessage.startsWith("web-1 is ACTIVE"));
      const done = await waitDone(op);
      expect(done.error).toBeUndefined();
      expect(await resolves()).toBe("web-1");
      expect(await active()).toEqual(["web-1"]);
      // web-1 activated, web-2 retired: two moves; a repeat after the kill carries the same
      // request id (the emulator then changes nothing), so at most one more call.
      expect(deprecateCalls() - before).toBeGreaterThanOrEqual(2);
      expect(deprecateCalls() - before).toBeLessThanOrEqual(3);
    } finally {
      stack.emulator.admin.clearFaults();
    }
  });

  it("serialises two promotions of one family: the second sees the first's result", async () => {
    const [a, b] = await Promise.all([
      client.promoteImage({ project: PROJECT, image: "web-2" }),
      client.promoteImage({ project: PROJECT, image: "web-3" }),
    ]);
    const [doneA, doneB] = [await waitDone(a), await waitDone(b)];
    expect(doneA.error).toBeUndefined();
    expect(doneB.error).toBeUndefined();
    const last = Date.parse(doneA.endTime) > Date.parse(doneB.endTime) ? "web-2" : "web-3";
    expect(await active()).toEqual([last]);
    expect(await resolves()).toBe(last);
    // Leave web-3 current for what follows.
    await waitDone(await client.promoteImage({ project: PROJECT, image: "web-3" }));
  });

  it("enacts a scheduled move to OBSOLETE at its time, though the worker is killed before it is due", async () => {
    const at = Date.now() + 2500;
    const op = await client.deprecateImage({
      project: PROJECT,
      image: "web-1",
      state: "DEPRECATED",
      replacement: "web-3",
      obsoleteTime: timestampFromMs(at),
    });
    const done = await waitDone(op);
    expect(done.error).toBeUndefined();
    expect(done.statusMessage).toContain("scheduled: OBSOLETE at");
    // Compute shows the plan, as `gcloud compute images describe` would.
    expect((await compute.getImage(PROJECT, "web-1"))["deprecated"]).toMatchObject({
      state: "DEPRECATED",
      obsolete: new Date(at).toISOString(),
    });
    const family = await client.getFamily({ project: PROJECT, family: "web" });
    expect(family.resolvesTo).toBe("web-3");
    expect(family.images.find((i) => i.name === "web-1")?.schedule.map((s) => s.state)).toEqual([
      "OBSOLETE",
    ]);
    await worker.stop("SIGKILL");
    worker = await stack.startWorker(WORKER_ENV);
    for (const deadline = Date.now() + 15_000; (await states())["web-1"] !== "OBSOLETE";) {
      if (Date.now() > deadline) throw new Error("the scheduled step was never enacted");
      await new Promise((r) => setTimeout(r, 100));
    }
    // Enacted at (not before) its time, within the reconciler's bound.
    const enacted = (await client.listOperations({ project: PROJECT })).items.filter(
      (o) => o.operationType === "deprecate" && o.user === "imagesvc-reconciler",
    );
    expect(enacted).toHaveLength(1);
    expect(Date.parse(enacted[0]?.insertTime ?? "")).toBeGreaterThanOrEqual(at);
    expect(Date.parse(enacted[0]?.insertTime ?? "")).toBeLessThan(at + 5000);
    expect((await compute.getImage(PROJECT, "web-1"))["deprecated"]).toMatchObject({
      state: "OBSOLETE",
      obsolete: new Date(at).toISOString(),
    });
  });

  it("keeps the newest 2 under a retention policy: the oldest is deleted, the current one never", async () => {
    const op = await client.setFamilyPolicy({
      project: PROJECT,
      family: "web",
      policy: { keepNewest: 2 },
    });
    expect(op.status).toBe(Operation_Status.DONE);
    for (const deadline = Date.now() + 15_000; "web-1" in (await states());) {
      if (Date.now() > deadline) throw new Error("retention never deleted web-1");
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(Object.keys(await states()).sort()).toEqual(["web-2", "web-3"]);
    expect(await resolves()).toBe("web-3");
    const family = await client.getFamily({ project: PROJECT, family: "web" });
    expect(family.policy?.keepNewest).toBe(2);
    await client.setFamilyPolicy({ project: PROJECT, family: "web" });
  });

  it("shares an image through its IAM policy, keeping a binding written meanwhile", async () => {
    const policy = await compute.getImageIamPolicy(PROJECT, "web-3");
    await compute.setImageIamPolicy(PROJECT, "web-3", {
      ...policy,
      bindings: [{ role: "roles/compute.viewer", members: ["user:ana@example.com"] }],
    });
    // The share is cut short by kill -9 while its write is in flight (it lands, its answer is lost).
    stack.emulator.admin.addFault({
      route: "images.setIamPolicy",
      effect: "latency",
      latencyMs: 500,
    });
    let done: Operation;
    try {
      const op = await client.shareImage({
        project: PROJECT,
        image: "web-3",
        members: ["serviceAccount:boot@other-project.iam.gserviceaccount.com"],
      });
      await killMidway(op, (v) => v.statusMessage.startsWith("granting"));
      done = await waitDone(op);
    } finally {
      stack.emulator.admin.clearFaults();
    }
    expect(done.error).toBeUndefined();
    const now = await compute.getImageIamPolicy(PROJECT, "web-3");
    expect(now.bindings).toEqual(
      expect.arrayContaining([
        { role: "roles/compute.viewer", members: ["user:ana@example.com"] },
        {
          role: "roles/compute.imageUser",
          members: ["serviceAccount:boot@other-project.iam.gserviceaccount.com"],
        },
      ]),
    );
  });

  it("creates an image DEPRECATED and promotes it once READY, or holds it for a PromoteImage", async () => {
    const held = await client.createImage({
      project: PROJECT,
      image: {
        name: "api-1",
        family: "api",
        sourceImage: "projects/debian-cloud/global/images/family/debian-12",
      },
      release: ReleaseMode.HOLD,
    });
    expect((await waitDone(held)).error).toBeUndefined();
    // Created, and the family resolves to nothing: it waits for the caller's go.
    expect(await states("api")).toEqual({ "api-1": "DEPRECATED" });
    await waitDone(await client.promoteImage({ project: PROJECT, image: "api-1" }));
    expect(await resolves("api")).toBe("api-1");

    // api-2, promoted once READY; `requestId` repeats an earlier call.
    const createApi2 = (requestId = "") =>
      client.createImage({
        project: PROJECT,
        image: {
          name: "api-2",
          family: "api",
          sourceImage: "projects/debian-cloud/global/images/family/debian-12",
        },
        release: ReleaseMode.PROMOTE_WHEN_READY,
        requestId,
      });
    const op = await createApi2();
    const promotion = op.warnings.find((w) => w.code === "RELEASE_PROMOTION");
    const promoteName = promotion?.data.find((d) => d.key === "operation")?.value ?? "";
    expect(promoteName).toMatch(/^operation-/);
    // While the image is created, the family stays on api-1.
    expect(await resolves("api")).toBe("api-1");
    const created = await waitDone(op);
    expect(created.error).toBeUndefined();
    expect(created.warnings.map((w) => w.code)).toContain("RELEASE_PROMOTION");
    const promoted = await waitDone(
      await client.getOperation({ project: PROJECT, operation: promoteName }),
    );
    expect(promoted.error).toBeUndefined();
    expect(promoted.statusMessage).toContain("api resolves to api-2; api-1 is DEPRECATED");
    expect(await resolves("api")).toBe("api-2");
    // A repeat of the CreateImage records no second promotion.
    const again = await createApi2(op.clientOperationId);
    expect(again.name).toBe(op.name);
    // No family, no release: refused before anything is stored, naming the field.
    const bad = await client
      .createImage({
        project: PROJECT,
        image: {
          name: "api-3",
          sourceImage: "projects/debian-cloud/global/images/family/debian-12",
        },
        release: ReleaseMode.PROMOTE_WHEN_READY,
      })
      .catch((e: unknown) => e);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).message).toContain("image.family");
  });

  it("holds a promotion queued before its CreateImage is DONE in the queue, then promotes", async () => {
    // A sweeper that queues every open operation at once queues the promotion early.
    await worker.stop();
    worker = await stack.startWorker({
      ...WORKER_ENV,
      SWEEP_INTERVAL_MS: "200",
      SWEEP_GRACE_MS: "100",
    });
    // The insert takes 3 s at Compute, so the CreateImage is open when the promotion runs.
    stack.emulator.admin.addFault({
      route: "images.insert",
      effect: "latency",
      latencyMs: 3000,
      count: 1,
    });
    try {
      const op = await client.createImage({
        project: PROJECT,
        image: {
          name: "late-1",
          family: "late",
          sourceImage: "projects/debian-cloud/global/images/family/debian-12",
        },
        release: ReleaseMode.PROMOTE_WHEN_READY,
      });
      const name =
        op.warnings
          .find((w) => w.code === "RELEASE_PROMOTION")
          ?.data.find((d) => d.key === "operation")?.value ?? "";
      const seen: string[] = [];
      for await (const v of client.watchOperation({ project: PROJECT, operation: name })) {
        seen.push(v.statusMessage);
        if (v.status === Operation_Status.DONE) {
          expect(v.error).toBeUndefined();
          break;
        }
      }
      expect(
        seen.some((m) => m.startsWith(`waiting for ${op.name}, which creates the image`)),
      ).toBe(true);
      expect(await resolves("late")).toBe("late-1");
    } finally {
      stack.emulator.admin.clearFaults();
      await worker.stop();
      worker = await stack.startWorker(WORKER_ENV);
    }
  });

  it("cancels a release before it starts; refuses one that has started; answers bad input naming the field", async () => {
    await worker.stop();
    try {
      const op = await client.promoteImage({ project: PROJECT, image: "web-2" });
      const cancelled = await client.cancelOperation({ project: PROJECT, operation: op.name });
      expect(cancelled.error?.errors[0]?.code).toBe("CANCELLED");
    } finally {
      worker = await stack.startWorker(WORKER_ENV);
    }
    expect(await resolves()).toBe("web-3");
    const refused = await waitDone(await client.promoteImage({ project: PROJECT, image: "nope" }));
    expect(refused.error?.errors[0]).toMatchObject({ code: "RESOURCE_NOT_FOUND" });
    const bad = await client
      .deprecateImage({ project: PROJECT, image: "Web-2", state: "GONE" })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ConnectError);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).message).toMatch(/image.*"web-2"/s);
    expect((bad as ConnectError).message).toMatch(/state.*ACTIVE, DEPRECATED, OBSOLETE, DELETED/s);
  });
});
