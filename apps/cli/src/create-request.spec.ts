import { validateCreateImageRequest } from "@imagesvc/validation";
import { describe, expect, it } from "vitest";
import { createRequestFromFlags, flagOf, UsageError } from "./create-request";

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

  it("names the flag behind each field a violation is about", () => {
    expect(flagOf("image.raw_disk.source")).toBe("--source-uri");
    expect(flagOf('image.labels["Env"]')).toBe("--labels");
    expect(flagOf("image.guest_os_features[0].type")).toBe("--guest-os-features");
    expect(flagOf("image.name")).toBe("IMAGE_NAME");
  });
});
