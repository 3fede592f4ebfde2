import { Operation_Status } from "@imagesvc/proto";
import { validateCreateImageRequest } from "@imagesvc/validation";
import { describe, expect, it } from "vitest";
import { createRequestFromFlags, flagOf, UsageError, type CreateFlags } from "./create-request";

describe("createRequestFromFlags", () => {
  it("maps gcloud-style flags onto the request", () => {
    const req = createRequestFromFlags("web-1", {
      project: "my-project",
      sourceUri: "https://storage.googleapis.com/b-1/web.tar.gz",
      family: "web",
      description: "Web tier",
      labels: "env=prod, team=edge",
      guestOsFeatures: "UEFI_COMPATIBLE,GVNIC",
      storageLocation: "us",
      architecture: "X86_64",
      force: true,
      requestId: "3f1c2a9e-8d7b-4c6a-9e5f-1a2b3c4d5e6f",
    });
    expect(validateCreateImageRequest(req)).toEqual([]);
    expect(req).toMatchObject({
      project: "my-project",
      forceCreate: true,
      requestId: "3f1c2a9e-8d7b-4c6a-9e5f-1a2b3c4d5e6f",
    });
    expect(req.image).toMatchObject({
      name: "web-1",
      family: "web",
      description: "Web tier",
      labels: { env: "prod", team: "edge" },
      rawDisk: { source: "https://storage.googleapis.com/b-1/web.tar.gz" },
      storageLocations: ["us"],
      architecture: "X86_64",
    });
    expect(req.image?.guestOsFeatures.map((f) => f.type)).toEqual(["UEFI_COMPATIBLE", "GVNIC"]);
  });

  it.each([
    [
      { sourceDisk: "d1", sourceDiskZone: "us-central1-a" },
      { sourceDisk: "zones/us-central1-a/disks/d1" },
    ],
    [
      { sourceDisk: "projects/p-123456/zones/us-central1-a/disks/d1" },
      { sourceDisk: "projects/p-123456/zones/us-central1-a/disks/d1" },
    ],
    [{ sourceImage: "base" }, { sourceImage: "global/images/base" }],
    [
      { sourceImage: "base", sourceImageProject: "debian-cloud" },
      { sourceImage: "projects/debian-cloud/global/images/base" },
    ],
    [
      { sourceImageFamily: "debian-12", sourceImageProject: "debian-cloud" },
      { sourceImage: "projects/debian-cloud/global/images/family/debian-12" },
    ],
    [{ sourceSnapshot: "snap-1" }, { sourceSnapshot: "global/snapshots/snap-1" }],
  ])("resolves the source flags %j", (flags, image) => {
    const req = createRequestFromFlags("web", { project: "my-project", ...flags });
    expect(req.image).toMatchObject(image);
    expect(validateCreateImageRequest(req)).toEqual([]);
  });

  it.each([
    [{ labels: "env" }, /--labels: "env" is not KEY=VALUE/],
    [{ sourceDiskZone: "us-central1-a" }, /--source-disk-zone goes with --source-disk/],
    [{ sourceImageProject: "debian-cloud" }, /--source-image-project goes with/],
    [{ sourceImage: "a", sourceImageFamily: "b" }, /two sources/],
  ])("refuses %j", (flags, message) => {
    expect(() => createRequestFromFlags("web", { project: "my-project", ...flags })).toThrow(
      UsageError,
    );
    expect(() => createRequestFromFlags("web", { project: "my-project", ...flags })).toThrow(
      message,
    );
  });

  it("asks for a webhook with --notify, on the statuses --notify-on names (DONE by default)", () => {
    const flags = { project: "my-project", sourceUri: "https://storage.googleapis.com/b/w.tar.gz" };
    const url = "https://hooks.example.com/images";
    const onDone = createRequestFromFlags("web-1", { ...flags, notify: url });
    expect(onDone.notification).toMatchObject({ url, on: [Operation_Status.DONE] });
    const both = createRequestFromFlags("web-1", {
      ...flags,
      notify: url,
      notifyOn: "running,DONE",
    });
    expect(both.notification?.on).toEqual([Operation_Status.RUNNING, Operation_Status.DONE]);
    expect(createRequestFromFlags("web-1", flags).notification).toBeUndefined();
    expect(() => createRequestFromFlags("web-1", { ...flags, notifyOn: "DONE" })).toThrow(
      /--notify-on goes with --notify URL/,
    );
    expect(() =>
      createRequestFromFlags("web-1", { ...flags, notify: url, notifyOn: "PENDING" }),
    ).toThrow(/"PENDING" is not a status a webhook announces; write RUNNING, DONE or RUNNING,DONE/);
    expect(flagOf("notification.url")).toBe("--notify");
  });

  it("names the flag behind each field a violation is about", () => {
    expect(flagOf("image.raw_disk.source")).toBe("--source-uri");
    expect(flagOf('image.labels["Env"]')).toBe("--labels");
    expect(flagOf("image.guest_os_features[0].type")).toBe("--guest-os-features");
    expect(flagOf("image.name")).toBe("IMAGE_NAME");
  });
});

describe("the images.insert fields beyond gcloud's basics", () => {
  const CERT_DER = Buffer.from([0x30, 0x82, 0x01, 0x0a, 1, 2, 3]);
  const PEM = `-----BEGIN CERTIFICATE-----\n${CERT_DER.toString("base64")}\n-----END CERTIFICATE-----\n`;
  const RAW = Buffer.alloc(32, 1).toString("base64");
  const RSA = Buffer.alloc(256, 2).toString("base64");
  const files: Record<string, string | Buffer> = {
    "pk.der": CERT_DER,
    "kek.pem": PEM,
    "db.esl": Buffer.from("an EFI signature list"),
    "disk.key": `${RAW}\n`,
    "snap.key": RSA,
    "body.json": JSON.stringify({
      name: "from-body",
      description: "as in Compute's docs",
      sourceImage: "projects/debian-cloud/global/images/family/debian-12",
      deprecated: { state: "DEPRECATED" },
    }),
  };
  const read = (path: string) => {
    const f = files[path];
    if (f === undefined) throw new Error("ENOENT: no such file");
    return Buffer.isBuffer(f) ? f : Buffer.from(f);
  };

  it("takes Secure Boot files, source key files, deprecation and tags as flags", () => {
    const req = createRequestFromFlags(
      "web",
      {
        project: "my-project",
        sourceDisk: "projects/my-project/zones/us-central1-a/disks/d",
        sourceDiskKeyFile: "disk.key",
        shieldedPk: "pk.der",
        shieldedKek: ["kek.pem"],
        shieldedDb: ["db.esl", "pk.der"],
        deprecatedState: "ACTIVE",
        obsoleteAt: "2027-06-30T00:00:00Z",
        tag: ["tagKeys/1=tagValues/2", "my-project/env=prod"],
      },
      read,
    );
    expect(validateCreateImageRequest(req)).toEqual([]);
    const state = req.image?.shieldedInstanceInitialState;
    expect(state?.pk).toMatchObject({ content: CERT_DER.toString("base64"), fileType: "X509" });
    expect(state?.keks[0]).toMatchObject({
      content: CERT_DER.toString("base64"),
      fileType: "X509",
    });
    expect(state?.dbs.map((f) => f.fileType)).toEqual(["BIN", "X509"]);
    expect(req.image?.sourceDiskEncryptionKey?.rawKey).toBe(RAW);
    expect(req.image?.deprecated).toMatchObject({
      state: "ACTIVE",
      obsolete: "2027-06-30T00:00:00Z",
    });
    expect(req.image?.params?.resourceManagerTags).toEqual({
      "tagKeys/1": "tagValues/2",
      "my-project/env": "prod",
    });
    const rsa = createRequestFromFlags(
      "web",
      { project: "my-project", sourceSnapshot: "s", sourceSnapshotKeyFile: "snap.key" },
      read,
    );
    expect(rsa.image?.sourceSnapshotEncryptionKey?.rsaEncryptedKey).toBe(RSA);
  });

  it("takes a whole images.insert body, with flags on top", () => {
    const req = createRequestFromFlags(
      undefined,
      { project: "my-project", body: "body.json" },
      read,
    );
    expect(validateCreateImageRequest(req)).toEqual([]);
    expect(req.image).toMatchObject({ name: "from-body", description: "as in Compute's docs" });
    const renamed = createRequestFromFlags(
      "renamed",
      { project: "my-project", body: "body.json", description: "mine", deprecatedState: "ACTIVE" },
      read,
    );
    expect(renamed.image).toMatchObject({
      name: "renamed",
      description: "mine",
      sourceImage: "projects/debian-cloud/global/images/family/debian-12",
      deprecated: { state: "ACTIVE" },
    });
  });

  it("says which flag and file are wrong", () => {
    files["bad.json"] = JSON.stringify({ name: "x", sourceImageUrl: "y" });
    files["short.key"] = "c2hvcnQ=";
    const usage = (flags: Partial<CreateFlags>) => {
      try {
        createRequestFromFlags("web", { project: "my-project", ...flags }, read);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      return "no error";
    };
    expect(usage({ body: "missing.json" })).toMatch(/^--body: cannot read missing.json/);
    expect(usage({ body: "bad.json" })).toMatch(
      /^--body: bad.json is not an images.insert body: .*sourceImageUrl/,
    );
    expect(usage({ sourceDisk: "d", sourceDiskKeyFile: "short.key" })).toMatch(
      /^--source-disk-key-file: the file holds 8 characters/,
    );
    expect(usage({ tag: ["novalue"] })).toMatch(/^--tag: "novalue" is not KEY=VALUE/);
    expect(flagOf("image.shielded_instance_initial_state.dbs[1].file_type")).toBe("--shielded-db");
    expect(flagOf('image.params.resource_manager_tags["env"]')).toBe("--tag");
    expect(flagOf("image.deprecated.obsolete")).toBe("--obsolete-at");
  });
});
