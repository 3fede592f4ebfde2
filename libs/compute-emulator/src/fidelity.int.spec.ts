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

  describe("release calls", () => {
    /** Inserts `name` in `family` and waits until it is READY. */
    async function readyImage(name: string, family = "web"): Promise<void> {
      const insert = await api.images.insert({
        project: PROJECT,
        requestBody: { name, family, rawDisk: { source: SOURCE } },
      });
      let op = insert.data;
      while (op.status !== "DONE")
        op = (await api.globalOperations.wait({ project: PROJECT, operation: op.name ?? "" })).data;
    }
    const resolves = async (family = "web") =>
      (await api.images.getFromFamily({ project: PROJECT, family })).data.name;

    it("deprecates: a family skips DEPRECATED, OBSOLETE and DELETED images; an empty body clears", async () => {
      await readyImage("web-1");
      await readyImage("web-2");
      expect(await resolves()).toBe("web-2");
      const requestId = randomUUID();
      const deprecated = await api.images.deprecate({
        project: PROJECT,
        image: "web-2",
        requestId,
        requestBody: {
          state: "DEPRECATED",
          replacement: `projects/${PROJECT}/global/images/web-1`,
          obsolete: "2030-01-01T00:00:00Z",
        },
      });
      expect(deprecated.data).toMatchObject({
        operationType: "deprecate",
        status: "DONE",
        clientOperationId: requestId,
      });
      expect((await api.images.get({ project: PROJECT, image: "web-2" })).data.deprecated).toEqual({
        state: "DEPRECATED",
        replacement: `projects/${PROJECT}/global/images/web-1`,
        obsolete: "2030-01-01T00:00:00Z",
      });
      expect(await resolves()).toBe("web-1");
      for (const state of ["OBSOLETE", "DELETED"]) {
        await api.images.deprecate({ project: PROJECT, image: "web-1", requestBody: { state } });
        expect(
          await failure(api.images.getFromFamily({ project: PROJECT, family: "web" })),
        ).toEqual({ status: 404, reason: "notFound" });
      }
      // The same requestId again changes nothing and answers the same operation.
      await api.images.deprecate({ project: PROJECT, image: "web-2", requestBody: {} });
      expect(await resolves()).toBe("web-2");
      const again = await api.images.deprecate({
        project: PROJECT,
        image: "web-2",
        requestId,
        requestBody: { state: "DEPRECATED" },
      });
      expect(again.data.name).toBe(deprecated.data.name);
      expect(await resolves()).toBe("web-2");
      // State ACTIVE clears too; a bad state is 400.
      await api.images.deprecate({
        project: PROJECT,
        image: "web-1",
        requestBody: { state: "ACTIVE" },
      });
      expect(
        (await api.images.get({ project: PROJECT, image: "web-1" })).data.deprecated,
      ).toBeUndefined();
      expect(
        await failure(
          api.images.deprecate({
            project: PROJECT,
            image: "web-1",
            requestBody: { state: "GONE" },
          }),
        ),
      ).toEqual({ status: 400, reason: "invalid" });
      expect(
        await failure(api.images.deprecate({ project: PROJECT, image: "nope", requestBody: {} })),
      ).toEqual({ status: 404, reason: "notFound" });
    });

    it("refuses an OBSOLETE or DELETED image as a source, and resolves a family source", async () => {
      await readyImage("base-1", "base");
      const fromImage = (name: string, sourceImage: string) =>
        api.images.insert({ project: PROJECT, requestBody: { name, sourceImage } });
      await fromImage("child-1", `projects/${PROJECT}/global/images/family/base`);
      await api.images.deprecate({
        project: PROJECT,
        image: "base-1",
        requestBody: { state: "DEPRECATED" },
      });
      // DEPRECATED still works by name; the family now resolves to nothing.
      await fromImage("child-2", `projects/${PROJECT}/global/images/base-1`);
      expect(
        await failure(fromImage("child-3", `projects/${PROJECT}/global/images/family/base`)),
      ).toEqual({ status: 404, reason: "notFound" });
      for (const state of ["OBSOLETE", "DELETED"]) {
        await api.images.deprecate({ project: PROJECT, image: "base-1", requestBody: { state } });
        expect(
          await failure(
            fromImage(`child-${state.toLowerCase()}`, `projects/${PROJECT}/global/images/base-1`),
          ),
        ).toEqual({ status: 400, reason: "invalid" });
      }
    });

    it("lists with filter and orderBy", async () => {
      await readyImage("a-web", "web");
      await readyImage("b-db", "db");
      await readyImage("c-web", "web");
      await api.images.deprecate({
        project: PROJECT,
        image: "c-web",
        requestBody: { state: "DEPRECATED" },
      });
      const names = async (filter?: string, orderBy?: string) =>
        (
          await api.images.list({
            project: PROJECT,
            ...(filter !== undefined && { filter }),
            ...(orderBy !== undefined && { orderBy }),
          })
        ).data.items?.map((i) => i.name) ?? [];
      expect(await names("family = web")).toEqual(["a-web", "c-web"]);
      expect(await names('family = "web" AND -deprecated.state:*')).toEqual(["a-web"]);
      expect(await names("deprecated.state = DEPRECATED OR name = b-db")).toEqual([
        "b-db",
        "c-web",
      ]);
      expect(await names("(family = db) OR (name = a-*)")).toEqual(["a-web", "b-db"]);
      expect(await names(undefined, "creationTimestamp desc")).toEqual(["c-web", "b-db", "a-web"]);
      expect(await failure(api.images.list({ project: PROJECT, filter: "family == web" }))).toEqual(
        {
          status: 400,
          reason: "invalid",
        },
      );
      expect(await failure(api.images.list({ project: PROJECT, orderBy: "size" }))).toEqual({
        status: 400,
        reason: "invalid",
      });
    });

    it("sets labels under their fingerprint, and refuses a stale one with 412", async () => {
      await readyImage("web");
      const first = (await api.images.get({ project: PROJECT, image: "web" })).data;
      expect(first.labelFingerprint).toBe("42WmSpB8rSM=");
      const set = await api.images.setLabels({
        project: PROJECT,
        resource: "web",
        requestBody: { labels: { env: "prod" }, labelFingerprint: first.labelFingerprint ?? "" },
      });
      expect(set.data).toMatchObject({ operationType: "setLabels", status: "DONE" });
      const second = (await api.images.get({ project: PROJECT, image: "web" })).data;
      expect(second.labels).toEqual({ env: "prod" });
      expect(second.labelFingerprint).not.toBe(first.labelFingerprint);
      expect(
        await failure(
          api.images.setLabels({
            project: PROJECT,
            resource: "web",
            requestBody: { labels: { env: "dev" }, labelFingerprint: first.labelFingerprint ?? "" },
          }),
        ),
      ).toEqual({ status: 412, reason: "conditionNotMet" });
      expect((await api.images.get({ project: PROJECT, image: "web" })).data.labels).toEqual({
        env: "prod",
      });
    });

    it("keeps an IAM policy under its etag: a stale write is refused, never merged", async () => {
      await readyImage("web");
      const empty = (await api.images.getIamPolicy({ project: PROJECT, resource: "web" })).data;
      expect(empty).toEqual({ version: 1, etag: "ACAB" });
      const binding = {
        role: "roles/compute.imageUser",
        members: ["serviceAccount:ci@other.iam.gserviceaccount.com"],
      };
      const set = await api.images.setIamPolicy({
        project: PROJECT,
        resource: "web",
        requestBody: { policy: { bindings: [binding], etag: empty.etag ?? "" } },
      });
      expect(set.data.bindings).toEqual([binding]);
      expect(set.data.etag).not.toBe(empty.etag);
      // A second writer that read the empty policy loses: its etag is stale.
      expect(
        await failure(
          api.images.setIamPolicy({
            project: PROJECT,
            resource: "web",
            requestBody: {
              policy: {
                bindings: [{ role: "roles/compute.imageUser", members: ["user:x@example.com"] }],
                etag: empty.etag ?? "",
              },
            },
          }),
        ),
      ).toEqual({ status: 412, reason: "conditionNotMet" });
      expect((await api.images.getIamPolicy({ project: PROJECT, resource: "web" })).data).toEqual(
        set.data,
      );
      expect(
        await failure(
          api.images.setIamPolicy({
            project: PROJECT,
            resource: "web",
            requestBody: { policy: { bindings: [{ role: "imageUser", members: ["x"] }] } },
          }),
        ),
      ).toEqual({ status: 400, reason: "invalid" });
      const tested = await api.images.testIamPermissions({
        project: PROJECT,
        resource: "web",
        requestBody: { permissions: ["compute.images.useReadOnly", "storage.objects.get"] },
      });
      expect(tested.data.permissions).toEqual(["compute.images.useReadOnly"]);
    });
  });
});
