import { describe, expect, it } from "vitest";
import {
  InvalidJobError,
  parseCreateImageJob,
  scrubbedJob,
  type CreateImageJob,
} from "./create-image-job";
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

  it("accepts a version 3 payload: a webhook, and no key or a sealed one", () => {
    const v3 = {
      ...valid,
      v: 3,
      sealed: {},
      keySealed: false,
      notify: { url: "https://hooks.example.com/x", on: ["DONE"] },
    };
    expect(parseCreateImageJob(v3)).toEqual(v3);
  });

  it.each([
    [null, /not an object/],
    [{ ...valid, v: 4 }, /unknown job version 4; this worker reads versions 1 to 3/],
    [{ ...valid, v: 3, sealed: {} }, /job fields notify and keySealed are missing/],
    [
      { ...valid, v: 3, sealed: {}, keySealed: false, notify: { url: 7, on: [] } },
      /job fields notify and keySealed are missing/,
    ],
    [{ ...valid, v: 2 }, /job field sealed is missing/],
    [{ ...valid, v: 2, sealed: { rawKey: 7 } }, /job field sealed is missing/],
    [{ ...valid, project: "" }, /project is missing/],
    [{ ...valid, image: null }, /image is missing/],
    [{ ...valid, acceptedMs: "1" }, /acceptedMs is missing/],
  ])("refuses %j", (data, message) => {
    expect(() => parseCreateImageJob(data)).toThrow(InvalidJobError);
    expect(() => parseCreateImageJob(data)).toThrow(message);
  });
});

describe("scrubbedJob", () => {
  it("drops a version 2 job's sealed secrets and leaves a version 1 job alone", () => {
    const v2 = { ...valid, v: 2 as const, sealed: { rawKey: "v1.a.b.c" } };
    expect(parseCreateImageJob(v2)).toEqual(v2);
    expect(scrubbedJob(v2)).toEqual({ ...v2, sealed: {} });
    expect(scrubbedJob(valid as CreateImageJob)).toBe(valid);
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
