// Fidelity: Google's own discovery-based client, @googleapis/compute, works against the emulator
// unchanged but for its rootUrl, with credentials google-auth-library gets from the emulator's
// metadata server (no static token is configured).
import { auth as googleAuth, compute, type compute_v1 } from "@googleapis/compute";
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startComputeEmulator, type ComputeEmulator } from "./index";

const PROJECT = "fidelity-project";
const SOURCE = "https://storage.googleapis.com/my-bucket/images/web.tar.gz";
let emulator: ComputeEmulator;
let api: compute_v1.Compute;
const savedEnv = { ...process.env };

beforeAll(async () => {
  emulator = await startComputeEmulator({ operationDurationMs: 200 });
  // Read by gcp-metadata, the metadata client inside google-auth-library. Detection is left on,
  // so the library also probes the emulator to decide it is "on GCE".
  process.env["GCE_METADATA_HOST"] = emulator.metadataHost;
  delete process.env["GOOGLE_APPLICATION_CREDENTIALS"];
  delete process.env["METADATA_SERVER_DETECTION"];
  const credentials = new googleAuth.GoogleAuth({
    scopes: ["https://www.googleapis.com/auth/compute"],
  });
  api = compute({ version: "v1", rootUrl: `${emulator.url}/`, auth: credentials });
});
afterEach(() => {
  emulator.admin.reset();
});
afterAll(async () => {
  process.env = savedEnv;
  await emulator.close();
});

/** The error @googleapis/compute throws, as callers see it. */
interface GaxiosLikeError {
  status?: number;
  response?: { status: number; data: { error: { code: number; errors: { reason: string }[] } } };
}
async function failure(
  call: Promise<unknown>,
): Promise<{ status: number | undefined; reason: string | undefined }> {
  try {
    await call;
  } catch (e) {
    const err = e as GaxiosLikeError;
    return { status: err.response?.status, reason: err.response?.data.error.errors[0]?.reason };
  }
  throw new Error("expected the call to fail");
}

/** images.insert of image `name` from SOURCE into PROJECT. */
const insertImage = (name: string) =>
  api.images.insert({ project: PROJECT, requestBody: { name, rawDisk: { source: SOURCE } } });

describe("@googleapis/compute against the emulator", () => {
  it("inserts an image, waits on its operation, gets and lists images", async () => {
    const requestId = randomUUID();
    const insert = await api.images.insert({
      project: PROJECT,
      requestId,
      requestBody: { name: "web", family: "web-family", rawDisk: { source: SOURCE } },
    });
    expect(insert.status).toBe(200);
    expect(insert.data).toMatchObject({
      kind: "compute#operation",
      operationType: "insert",
      status: "PENDING",
      clientOperationId: requestId,
    });
    const operation = insert.data.name ?? "";

    let done: compute_v1.Schema$Operation = insert.data;
    while (done.status !== "DONE")
      done = (await api.globalOperations.wait({ project: PROJECT, operation })).data;
    expect(done).toMatchObject({
      status: "DONE",
      progress: 100,
      targetLink: insert.data.targetLink,
    });
    expect(done.error).toBeUndefined();
    expect(done.endTime).toEqual(expect.any(String));

    const image = await api.images.get({ project: PROJECT, image: "web" });
    expect(image.data).toMatchObject({
      name: "web",
      family: "web-family",
      status: "READY",
      id: done.targetId,
      rawDisk: { source: SOURCE },
    });

    const got = await api.globalOperations.get({ project: PROJECT, operation });
    expect(got.data.status).toBe("DONE");

    await api.images.insert({
      project: PROJECT,
      requestBody: {
        name: "db",
        sourceImage: "projects/debian-cloud/global/images/family/debian-12",
      },
    });
    const list = await api.images.list({ project: PROJECT });
    expect(list.data.items?.map((i) => i.name)).toEqual(["db", "web"]);
    const filtered = await api.images.list({ project: PROJECT, filter: 'name = "web"' });
    expect(filtered.data.items?.map((i) => i.name)).toEqual(["web"]);
    const page1 = await api.images.list({ project: PROJECT, maxResults: 1 });
    expect(page1.data.items?.map((i) => i.name)).toEqual(["db"]);
    const page2 = await api.images.list({
      project: PROJECT,
      maxResults: 1,
      pageToken: page1.data.nextPageToken ?? "",
    });
    expect(page2.data.items?.map((i) => i.name)).toEqual(["web"]);
    expect(page2.data.nextPageToken).toBeUndefined();

    expect(emulator.admin.state().calls["metadata.token"]).toBe(1);
  });

  it("answers a taken name with 409 alreadyExists", async () => {
    await insertImage("web");
    expect(await failure(insertImage("web"))).toEqual({ status: 409, reason: "alreadyExists" });
  });

  it("answers an invalid body with 400 invalid", async () => {
    expect(await failure(insertImage("Web"))).toEqual({ status: 400, reason: "invalid" });
    expect(
      await failure(api.images.insert({ project: PROJECT, requestBody: { name: "web" } })),
    ).toEqual({ status: 400, reason: "invalid" });
  });

  it("deletes an image and its operations", async () => {
    const insert = await insertImage("web");
    const deletion = await api.images.delete({ project: PROJECT, image: "web" });
    expect(deletion.data).toMatchObject({ operationType: "delete", status: "DONE" });
    expect(await failure(api.images.get({ project: PROJECT, image: "web" }))).toEqual({
      status: 404,
      reason: "notFound",
    });
    await api.globalOperations.delete({ project: PROJECT, operation: insert.data.name ?? "" });
    expect(
      await failure(
        api.globalOperations.get({ project: PROJECT, operation: insert.data.name ?? "" }),
      ),
    ).toEqual({ status: 404, reason: "notFound" });
    const ops = await api.globalOperations.list({ project: PROJECT });
    expect(ops.data.items?.map((o) => o.operationType)).toEqual(["delete"]);
  });
});
