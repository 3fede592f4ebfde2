import { describe, expect, it } from "vitest";
// The lib's public face: what the gateway and the worker import.
import {
  checkStoredRequest,
  InvalidJobError,
  jobOptions,
  jobPointer,
  parseJobData,
  parseNotification,
  parseStoredRequest,
  queuePrefix,
  requestOf,
  scrubbedRequest,
  storedRequest,
  joinSecrets,
  SECRET_FIELDS,
  splitSecrets,
  type StoredRequest,
} from "./index";

const base = {
  project: "p-123456",
  operation: "operation-1",
  requestId: "r",
  image: { name: "web" },
  forceCreate: false,
  acceptedMs: 1,
};
const valid = { v: 1, ...base };
const notify = { url: "https://hooks.example.com/x", on: ["DONE" as const] };

describe("storedRequest", () => {
  it("writes the oldest version that holds the request, so the previous release runs it too", () => {
    expect(storedRequest(base)).toEqual(valid);
    expect(storedRequest({ ...base, sealed: { "imageEncryptionKey.rawKey": "v1.a.b.c" } })).toEqual(
      {
        ...valid,
        v: 2,
        sealed: { rawKey: "v1.a.b.c" },
      },
    );
    expect(storedRequest({ ...base, notify })).toEqual({
      ...valid,
      v: 3,
      sealed: {},
      keySealed: false,
      notify,
    });
    // Any key but the image's raw key: version 4, which the previous release refuses.
    const sealed = { "sourceDiskEncryptionKey.rsaEncryptedKey": "v1.d.e.f" };
    expect(storedRequest({ ...base, sealed })).toEqual({ ...valid, v: 4, keySealed: true, sealed });
    expect(storedRequest({ ...base, sealed, notify })).toEqual({
      ...valid,
      v: 4,
      keySealed: true,
      sealed,
      notify,
    });
  });
});

describe("splitSecrets and joinSecrets", () => {
  it("take every raw and RSA-wrapped key out of an image and put them back", () => {
    const image = {
      name: "web",
      imageEncryptionKey: { rawKey: "a", kmsKeyServiceAccount: "" },
      sourceDiskEncryptionKey: { rsaEncryptedKey: "b" },
      sourceImageEncryptionKey: { kmsKeyName: "projects/p/locations/l/keyRings/r/cryptoKeys/k" },
      sourceSnapshotEncryptionKey: { rawKey: "c" },
    };
    const split = splitSecrets(image);
    expect(split.secrets).toEqual({
      "imageEncryptionKey.rawKey": "a",
      "sourceDiskEncryptionKey.rsaEncryptedKey": "b",
      "sourceSnapshotEncryptionKey.rawKey": "c",
    });
    expect(JSON.stringify(split.image)).not.toMatch(/rawKey|rsaEncryptedKey/);
    expect(split.image["sourceImageEncryptionKey"]).toEqual(image.sourceImageEncryptionKey);
    expect(joinSecrets(split.image, split.secrets)).toEqual(image);
    expect(SECRET_FIELDS).toHaveLength(8);
  });
});

describe("parseStoredRequest", () => {
  it("reads every version into one shape", () => {
    expect(parseStoredRequest(JSON.stringify(valid))).toEqual({
      ...base,
      traceparent: undefined,
      keySealed: false,
      sealed: {},
      notify: undefined,
    });
    const v2 = { ...valid, v: 2, sealed: { rawKey: "k" } };
    expect(parseStoredRequest(JSON.stringify(v2))).toMatchObject({
      keySealed: true,
      sealed: { "imageEncryptionKey.rawKey": "k" },
    });
    // A scrubbed version 2 request had a key: nothing may be inserted without it.
    expect(requestOf(scrubbedRequest(v2 as StoredRequest))).toMatchObject({
      keySealed: true,
      sealed: {},
    });
    const v4 = {
      ...valid,
      v: 4,
      keySealed: true,
      sealed: { "sourceImageEncryptionKey.rawKey": "s" },
    };
    expect(parseStoredRequest(JSON.stringify(v4))).toMatchObject({
      keySealed: true,
      sealed: v4.sealed,
      notify: undefined,
    });
    expect(requestOf(scrubbedRequest(v4 as StoredRequest))).toMatchObject({
      keySealed: true,
      sealed: {},
    });
    const v3 = { ...valid, v: 3, sealed: {}, keySealed: false, notify };
    expect(parseStoredRequest(JSON.stringify(v3))).toMatchObject({ keySealed: false, notify });
  });

  it.each([
    [null, /not an object/],
    [{ ...valid, v: 4 }, /request fields keySealed and sealed are missing/],
    [{ ...valid, v: 3, sealed: {} }, /request fields notify and keySealed are missing/],
    [
      { ...valid, v: 3, sealed: {}, keySealed: false, notify: { url: 7, on: [] } },
      /request fields notify and keySealed are missing/,
    ],
    [{ ...valid, v: 2 }, /request field sealed is missing/],
    [{ ...valid, v: 4, keySealed: true, sealed: { "image.name": "x" } }, /hold unknown fields/],
    [{ ...valid, v: 5 }, /reads versions 1 to 4/],
    [{ ...valid, v: 2, sealed: { rawKey: 7 } }, /request field sealed is missing/],
    [{ ...valid, project: "" }, /project is missing/],
    [{ ...valid, image: null }, /image is missing/],
    [{ ...valid, acceptedMs: "1" }, /acceptedMs is missing/],
  ])("refuses %j", (data, message) => {
    expect(() => checkStoredRequest(data)).toThrow(InvalidJobError);
    expect(() => checkStoredRequest(data)).toThrow(message);
  });

  it("refuses what is not JSON", () => {
    expect(() => parseStoredRequest("{")).toThrow(/the stored request is not JSON/);
  });
});

describe("parseJobData", () => {
  it("reads a pointer, and a previous release's full payload as one with its request", () => {
    expect(parseJobData(jobPointer("p-123456", "operation-1"))).toEqual({
      project: "p-123456",
      operation: "operation-1",
    });
    expect(parseJobData(valid)).toEqual({
      project: "p-123456",
      operation: "operation-1",
      legacy: valid,
    });
  });

  it.each([
    [
      { v: 5, project: "p", operation: "o" },
      /unknown job version 5; this worker reads versions 1 to 4/,
    ],
    [{ v: 4, project: "", operation: "o" }, /job fields project and operation are missing/],
    ["x", /unknown job version undefined/],
  ])("refuses %j", (data, message) => {
    expect(() => parseJobData(data)).toThrow(InvalidJobError);
    expect(() => parseJobData(data)).toThrow(message);
  });
});

describe("parseNotification", () => {
  it("reads a record's webhook field, absent as none", () => {
    expect(parseNotification("")).toBeUndefined();
    expect(parseNotification(JSON.stringify(notify))).toEqual(notify);
    expect(() => parseNotification('{"url":1}')).toThrow(InvalidJobError);
  });
});

describe("queue settings", () => {
  it("puts every queue key in one cluster slot", () => {
    expect(queuePrefix("imagesvc")).toBe("{imagesvc:queue}");
  });

  it("retries with exponential, jittered backoff and bounded retention", () => {
    expect(jobOptions({ attempts: 3, backoffMs: 1000, retentionMs: 7 * 86_400_000 })).toMatchObject(
      {
        attempts: 3,
        backoff: { type: "exponential", delay: 1000, jitter: 0.5 },
        removeOnComplete: { age: 86_400 },
        removeOnFail: { age: 604_800 },
      },
    );
  });
});
