import { create, fromJson, toJson, type JsonObject } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ImageSchema, Operation_Status, OperationSchema } from "./index";

// Shaped exactly as Compute's REST API returns them (ids as strings, RFC 3339 times with offsets).
const doneOperation = {
  kind: "compute#operation",
  id: "5215276846853226586",
  creationTimestamp: "2026-11-27T06:40:12.345-08:00",
  name: "operation-1764254412345-6445a0bd1a2f4-4e5ae6a9-8a6f2d1c",
  clientOperationId: "3f1c2a9e-8d7b-4c6a-9e5f-1a2b3c4d5e6f",
  operationType: "insert",
  targetLink:
    "https://www.googleapis.com/compute/v1/projects/my-project/global/images/web-2026-11-27",
  targetId: "18446744073709551615",
  status: "DONE",
  user: "builder@my-project.iam.gserviceaccount.com",
  progress: 100,
  insertTime: "2026-11-27T06:40:12.301-08:00",
  startTime: "2026-11-27T06:40:12.902-08:00",
  endTime: "2026-11-27T06:41:48.117-08:00",
  warnings: [
    {
      code: "DEPRECATED_RESOURCE_USED",
      message: "The resource 'rawDisk.sha1Checksum' is deprecated.",
      data: [{ key: "field", value: "rawDisk.sha1Checksum" }],
    },
  ],
  selfLink:
    "https://www.googleapis.com/compute/v1/projects/my-project/global/operations/operation-1764254412345-6445a0bd1a2f4-4e5ae6a9-8a6f2d1c",
} satisfies JsonObject;

const failedOperation = {
  kind: "compute#operation",
  id: "7721945519470911234",
  name: "operation-1764254500000-6445a0bd1a2f4-aaaaaaaa-bbbbbbbb",
  operationType: "insert",
  targetLink: "https://www.googleapis.com/compute/v1/projects/my-project/global/images/web",
  targetId: "9876543210",
  status: "DONE",
  user: "builder@my-project.iam.gserviceaccount.com",
  progress: 100,
  insertTime: "2026-11-27T06:40:12.301-08:00",
  startTime: "2026-11-27T06:40:12.902-08:00",
  endTime: "2026-11-27T06:40:20.117-08:00",
  error: {
    errors: [
      {
        code: "RESOURCE_NOT_FOUND",
        location: "rawDisk.source",
        message:
          "The resource 'https://storage.googleapis.com/my-bucket/missing.tar.gz' was not found",
      },
    ],
  },
  httpErrorStatusCode: 404,
  httpErrorMessage: "NOT FOUND",
  selfLink:
    "https://www.googleapis.com/compute/v1/projects/my-project/global/operations/operation-1764254500000-6445a0bd1a2f4-aaaaaaaa-bbbbbbbb",
} satisfies JsonObject;

describe("Operation JSON", () => {
  it("parses a Compute operation and writes it back unchanged", () => {
    for (const json of [doneOperation, failedOperation]) {
      const op = fromJson(OperationSchema, json);
      expect(toJson(OperationSchema, op)).toEqual(json);
    }
  });

  it("reads status as Compute's strings and ids as decimal strings", () => {
    const op = fromJson(OperationSchema, doneOperation);
    expect(op.status).toBe(Operation_Status.DONE);
    expect(op.id).toBe("5215276846853226586");
    expect(op.targetId).toBe("18446744073709551615");
    expect(op.progress).toBe(100);
    for (const status of ["PENDING", "RUNNING", "DONE"]) {
      expect(toJson(OperationSchema, fromJson(OperationSchema, { status }))).toEqual({ status });
    }
  });

  it("fills the error fields of an operation that failed after being accepted", () => {
    const op = fromJson(OperationSchema, failedOperation);
    expect(op.error?.errors[0]?.code).toBe("RESOURCE_NOT_FOUND");
    expect(op.error?.errors[0]?.location).toBe("rawDisk.source");
    expect(op.httpErrorStatusCode).toBe(404);
    expect(op.httpErrorMessage).toBe("NOT FOUND");
  });

  it("accepts fields Compute adds that the contract does not carry when told to ignore them", () => {
    const json = { ...doneOperation, operationGroupId: "g-1", description: "" };
    expect(() => fromJson(OperationSchema, json)).toThrow(/operationGroupId/);
    const op = fromJson(OperationSchema, json, { ignoreUnknownFields: true });
    expect(toJson(OperationSchema, op)).toEqual(doneOperation);
  });

  it("writes this service's own fields under their own names", () => {
    const op = create(OperationSchema, {
      project: "my-project",
      version: 3,
      computeOperation: doneOperation.selfLink,
    });
    expect(toJson(OperationSchema, op)).toEqual({
      project: "my-project",
      version: 3,
      computeOperation: doneOperation.selfLink,
    });
  });
});

describe("Image JSON", () => {
  it("serializes to an images.insert body with Compute's field names", () => {
    // An images.insert body as Compute documents it.
    const body = {
      name: "web-2026-11-27",
      description: "Web tier",
      family: "web",
      labels: { team: "edge", env: "prod" },
      rawDisk: {
        source: "https://storage.googleapis.com/my-bucket/images/web.tar.gz",
        containerType: "TAR",
        sha1Checksum: "0123456789abcdef0123456789abcdef01234567",
      },
      storageLocations: ["us"],
      guestOsFeatures: [{ type: "UEFI_COMPATIBLE" }, { type: "GVNIC" }],
      licenses: [
        "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/licenses/debian-12-bookworm",
      ],
      architecture: "X86_64",
      diskSizeGb: "20",
      imageEncryptionKey: {
        kmsKeyName: "projects/my-project/locations/us/keyRings/ring/cryptoKeys/key",
        kmsKeyServiceAccount: "builder@my-project.iam.gserviceaccount.com",
      },
    };
    const image = create(ImageSchema, { ...body, diskSizeGb: 20n });
    expect(toJson(ImageSchema, image)).toEqual(body);
  });

  it("parses the images.insert body of the reference page", () => {
    const body = {
      name: "my-image",
      sourceImage: "projects/debian-cloud/global/images/family/debian-12",
      sourceDisk: "zones/us-central1-a/disks/d1",
      sourceSnapshot: "projects/p/global/snapshots/s",
    };
    expect(toJson(ImageSchema, fromJson(ImageSchema, body))).toEqual(body);
  });
});
