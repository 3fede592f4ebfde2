import { create, toBinary } from "@bufbuild/protobuf";
import { OperationSchema, Operation_Status } from "@imagesvc/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pollingCalls, POLLERS } from "./scenarios/quota";
import { grpcFrame, versionOf } from "./grpc-unary";
import { median, quantile } from "./stats";

describe("versionOf", () => {
  it("reads the version of any encoded Operation, whatever the other fields", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 32 - 1 }),
        fc.string(),
        fc.integer({ min: -100, max: 100 }),
        (version, name, progress) => {
          const op = create(OperationSchema, {
            version,
            name,
            progress,
            status: Operation_Status.RUNNING,
            error: { errors: [{ code: "X", message: name }] },
            httpErrorStatusCode: 409,
          });
          expect(versionOf(toBinary(OperationSchema, op))).toBe(version);
        },
      ),
    );
  });
});

describe("grpcFrame", () => {
  it("prefixes the message with a zero flag and its big-endian length", () => {
    const frame = grpcFrame(new Uint8Array(300).fill(7));
    expect([...frame.subarray(0, 5)]).toEqual([0, 0, 0, 1, 44]);
    expect(frame.length).toBe(305);
  });
});

describe("quantile", () => {
  it("takes the nearest rank", () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(quantile(values, 0.5)).toBe(50);
    expect(quantile(values, 0.99)).toBe(99);
    expect(quantile(values, 1)).toBe(100);
    expect(median([3, 1, 2])).toBe(2);
    expect(quantile([], 0.5)).toBeNaN();
  });
});

describe("polling clients' Compute calls", () => {
  it("counts the insert and each GET until a 10-minute import is DONE", () => {
    expect(POLLERS.packer(600)).toBe(121); // insert + a GET every 5 s
    expect(POLLERS.terraform(600)).toBe(63); // insert + GETs after 2, 4, 8, then every 10 s
    expect(pollingCalls(0, () => 5)).toBe(1);
  });
});
