import { clone, create } from "@bufbuild/protobuf";
import { Operation_Status, Operation_WarningSchema, OperationSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import type { CallFailure } from "./events";
import {
  applyComputeOperation,
  failedOperation,
  failureOf,
  PREFLIGHT_WARNING_DATA,
} from "./operation-versions";

/** A Compute failure as libs/compute's ComputeApiError carries it. */
const callFailure = (httpStatus: number, reason: string, message: string): CallFailure => ({
  httpStatus,
  reason,
  message,
  kind: "final",
});

const ours = create(OperationSchema, {
  kind: "compute#operation",
  name: "operation-1-abc",
  project: "my-project",
  user: "alice@example.com",
  clientOperationId: "rid",
  insertTime: "2026-11-27T00:00:00.000Z",
  targetLink: "https://www.googleapis.com/compute/v1/projects/my-project/global/images/web",
  status: Operation_Status.PENDING,
  version: 3,
});

describe("applyComputeOperation", () => {
  it("takes Compute's state and keeps our identity", () => {
    const compute = create(OperationSchema, {
      name: "operation-compute",
      id: "123",
      targetId: "456",
      targetLink: "http://127.0.0.1:8085/compute/v1/projects/my-project/global/images/web",
      status: Operation_Status.RUNNING,
      progress: 40,
      user: "svc@my-project.iam.gserviceaccount.com",
      startTime: "2026-11-27T00:00:01.000Z",
      selfLink:
        "https://compute.googleapis.com/compute/v1/projects/my-project/global/operations/operation-compute",
      warnings: [{ code: "W", message: "m", data: [{ key: "k", value: "v" }] }],
    });
    const next = applyComputeOperation(ours, compute);
    expect(next).toMatchObject({
      name: "operation-1-abc",
      user: "alice@example.com",
      clientOperationId: "rid",
      insertTime: "2026-11-27T00:00:00.000Z",
      id: "123",
      targetId: "456",
      // One operation, one link: ours, not the host Compute (or an emulator) writes.
      targetLink: ours.targetLink,
      status: Operation_Status.RUNNING,
      progress: 40,
      startTime: compute.startTime,
      computeOperation: compute.selfLink,
      version: 3,
    });
    expect(next.warnings[0]?.data[0]).toMatchObject({ key: "k", value: "v" });
  });

  it("keeps the pre-flight's warnings and replaces Compute's earlier ones with its latest", () => {
    const preflight = {
      code: "UEFI_COMPATIBLE_MISSING",
      message: "m",
      data: [{ ...PREFLIGHT_WARNING_DATA }],
    };
    const withWarnings = clone(OperationSchema, ours);
    withWarnings.warnings = [
      create(Operation_WarningSchema, preflight),
      create(Operation_WarningSchema, { code: "OLD_COMPUTE_WARNING", message: "old" }),
    ];
    const compute = create(OperationSchema, {
      status: Operation_Status.RUNNING,
      warnings: [{ code: "NEW", message: "new", data: [] }],
    });
    expect(applyComputeOperation(withWarnings, compute).warnings.map((w) => w.code)).toEqual([
      "UEFI_COMPATIBLE_MISSING",
      "NEW",
    ]);
  });

  it("never lowers status or progress", () => {
    const running = create(OperationSchema, {
      ...ours,
      status: Operation_Status.RUNNING,
      progress: 60,
    });
    const stale = create(OperationSchema, { status: Operation_Status.PENDING, progress: 10 });
    expect(applyComputeOperation(running, stale)).toMatchObject({
      status: Operation_Status.RUNNING,
      progress: 60,
    });
  });
});

describe("failedOperation", () => {
  it("ends DONE with the error in Compute's shape", () => {
    const error = callFailure(
      409,
      "alreadyExists",
      "The resource 'projects/my-project/global/images/web' already exists",
    );
    const done = failedOperation(ours, failureOf(error), new Date("2026-11-27T00:00:09.000Z"));
    expect(done).toMatchObject({
      status: Operation_Status.DONE,
      progress: 100,
      endTime: "2026-11-27T00:00:09.000Z",
      httpErrorStatusCode: 409,
      httpErrorMessage: "CONFLICT",
    });
    expect(done.error?.errors).toEqual([
      expect.objectContaining({ code: "RESOURCE_ALREADY_EXISTS", message: error.message }),
    ]);
  });

  it("reports no answer from Compute as 503", () => {
    const failure = failureOf(callFailure(0, "networkError", "no answer"));
    expect(failure).toEqual({ code: "UNAVAILABLE", message: "no answer", httpStatus: 503 });
    expect(failedOperation(ours, failure).httpErrorMessage).toBe("SERVICE UNAVAILABLE");
  });

  it("derives a code from an unknown reason", () => {
    expect(failureOf(callFailure(400, "badRequestSomething", "x")).code).toBe(
      "BAD_REQUEST_SOMETHING",
    );
  });
});
