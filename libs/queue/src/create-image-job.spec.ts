import { describe, expect, it } from "vitest";
import { InvalidJobError, parseCreateImageJob } from "./create-image-job";
import { defaultJobOptions, queuePrefix } from "./image-queue";

const valid = {
  v: 1,
  project: "p-123456",
  operation: "operation-1",
  requestId: "r",
  image: { name: "web" },
  forceCreate: false,
  acceptedMs: 1,
};

describe("parseCreateImageJob", () => {
  it("accepts a version 1 payload", () => {
    expect(parseCreateImageJob(valid)).toEqual(valid);
  });

  it.each([
    [null, /not an object/],
    [{ ...valid, v: 2 }, /unknown job version 2; this worker reads version 1/],
    [{ ...valid, project: "" }, /project is missing/],
    [{ ...valid, image: null }, /image is missing/],
    [{ ...valid, acceptedMs: "1" }, /acceptedMs is missing/],
  ])("refuses %j", (data, message) => {
    expect(() => parseCreateImageJob(data)).toThrow(InvalidJobError);
    expect(() => parseCreateImageJob(data)).toThrow(message);
  });
});

describe("queue settings", () => {
  it("puts every queue key in one cluster slot", () => {
    expect(queuePrefix("imagesvc")).toBe("{imagesvc:queue}");
  });

  it("retries with exponential, jittered backoff and bounded retention", () => {
    expect(defaultJobOptions({ attempts: 3 })).toMatchObject({
      attempts: 3,
      backoff: { type: "exponential", delay: 1000, jitter: 0.5 },
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 604_800 },
    });
  });
});
