// Bad input against the running gateway: generated requests and malformed wire input. The
// process answers each with a proper error and stays up.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { CreateImageRequestSchema, healthV1, ImageService } from "@imagesvc/proto";
import { createImageQueue } from "@imagesvc/queue";
import fc from "fast-check";
import { randomBytes } from "node:crypto";
import { connect as connectHttp2, constants } from "node:http2";
import { connect as connectTcp } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../e2e/stack.test-helper";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(); // no worker: jobs stay queued, so they can be counted
});
afterAll(async () => {
  await stack.close();
});

const valid = {
  project: fc.stringMatching(/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/),
  name: fc.stringMatching(/^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/),
  source: fc.constantFrom(
    "https://storage.googleapis.com/my-bucket/web.tar.gz",
    "global/images/base",
    "zones/us-central1-a/disks/d1",
  ),
};
/** Mostly valid, else broken in a field or two, with anything from junk to near-misses. */
const mostly = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: good, weight: 12 }, { arbitrary: bad, weight: 1 });
const requests = fc.record({
  project: mostly(
    valid.project,
    fc.oneof(fc.string(), fc.constantFrom("", "My-Project", "a".repeat(31))),
  ),
  name: mostly(
    valid.name,
    fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom("", "-x", "a".repeat(64))),
  ),
  source: mostly(valid.source, fc.oneof(fc.string(), fc.constant("gs://b/o"))),
  kind: mostly(fc.constantFrom("raw", "image", "disk"), fc.constantFrom("none", "two")),
  labels: mostly(
    fc.dictionary(
      fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/),
      fc.stringMatching(/^[a-z0-9_-]{0,10}$/),
      { maxKeys: 5 },
    ),
    fc.dictionary(fc.string({ maxLength: 70 }), fc.string({ maxLength: 70 }), { maxKeys: 5 }),
  ),
  requestId: mostly(fc.oneof(fc.constant(""), fc.uuid()), fc.string({ maxLength: 40 })),
  architecture: mostly(fc.constantFrom("", "ARM64", "X86_64"), fc.string({ maxLength: 10 })),
  diskSizeGb: mostly(
    fc.bigInt({ min: 0n, max: 65_536n }),
    fc.bigInt({ min: -(2n ** 63n), max: -1n }),
  ),
  description: fc.string({ maxLength: 300 }),
});

type GeneratedRequest = typeof requests extends fc.Arbitrary<infer T> ? T : never;

function toRequest(r: GeneratedRequest) {
  const image = {
    name: r.name,
    labels: r.labels,
    architecture: r.architecture,
    diskSizeGb: r.diskSizeGb,
    description: r.description,
    ...(r.kind === "raw" || r.kind === "two" ? { rawDisk: { source: r.source } } : {}),
    ...(r.kind === "image" || r.kind === "two" ? { sourceImage: r.source } : {}),
    ...(r.kind === "disk" ? { sourceDisk: r.source } : {}),
  };
  return create(CreateImageRequestSchema, { project: r.project, requestId: r.requestId, image });
}

describe("fuzzing the running gateway", () => {
  it("answers 10,000 generated CreateImage requests over gRPC and Connect JSON with OK or INVALID_ARGUMENT, and queues one job per OK", async () => {
    const clients: Record<string, Client<typeof ImageService>> = {
      grpc: createClient(ImageService, createGrpcTransport({ baseUrl: stack.gateway.url })),
      connectJson: createClient(
        ImageService,
        createConnectTransport({
          baseUrl: stack.gateway.url,
          httpVersion: "2",
          useBinaryFormat: false,
        }),
      ),
    };
    const samples = fc.sample(requests, { numRuns: 10_000, seed: 20261127 });
    const outcomes = { ok: 0, invalid: 0, other: [] as string[] };
    for (let i = 0; i < samples.length; i += 100) {
      await Promise.all(
        samples.slice(i, i + 100).map(async (sample, j) => {
          const client = (i + j) % 2 === 0 ? clients["grpc"] : clients["connectJson"];
          try {
            await client?.createImage(toRequest(sample));
            outcomes.ok += 1;
          } catch (e) {
            const error = ConnectError.from(e);
            if (error.code === Code.InvalidArgument) outcomes.invalid += 1;
            else outcomes.other.push(`${Code[error.code]}: ${error.rawMessage.slice(0, 120)}`);
          }
        }),
      );
    }
    const queue = createImageQueue({
      connection: stack.redis.client,
      prefix: stack.prefix,
      attempts: 10,
      backoffMs: 1000,
      retentionMs: 24 * 3600_000,
    });
    const counts = await queue.counts();
    await queue.close();
    const jobs = Object.values(counts).reduce((a, b) => a + b, 0);
    process.stdout.write(
      `FAULTS fuzz: inputs=10000 ok=${outcomes.ok} invalidArgument=${outcomes.invalid} other=${outcomes.other.length} jobs=${jobs}\n`,
    );
    expect(outcomes.other).toEqual([]);
    expect(outcomes.ok + outcomes.invalid).toBe(10_000);
    expect(outcomes.ok).toBeGreaterThan(100);
    expect(jobs).toBe(outcomes.ok);
  });
});

describe("malformed wire input", () => {
  const stillServing = async () => {
    const health = createClient(
      healthV1.Health,
      createConnectTransport({ baseUrl: stack.gateway.url, httpVersion: "2" }),
    );
    expect((await health.check({ service: "" })).status).toBe(
      healthV1.HealthCheckResponse_ServingStatus.SERVING,
    );
  };
  /** One raw HTTP/2 request; resolves with its status, gRPC status and body. */
  function raw(headers: Record<string, string>, body: Buffer) {
    return new Promise<{ status: number; grpcStatus: string | undefined; body: string }>(
      (resolve, reject) => {
        const session = connectHttp2(stack.gateway.url);
        session.on("error", reject);
        const req = session.request({ ":method": "POST", ...headers });
        let status = 0;
        let grpcStatus: string | undefined;
        let text = "";
        req.on("response", (h) => {
          status = Number(h[":status"]);
          grpcStatus = h["grpc-status"] as string | undefined;
        });
        req.on("trailers", (t: Record<string, string | string[] | undefined>) => {
          grpcStatus = (t["grpc-status"] as string | undefined) ?? grpcStatus;
        });
        req.on("data", (c: Buffer) => (text += c.toString()));
        req.on("end", () => {
          session.close();
          resolve({ status, grpcStatus, body: text });
        });
        req.on("error", reject);
        req.end(body);
      },
    );
  }
  const path = "/computeimages.v1.ImageService/CreateImage";
  const grpcFrame = (length: number, payload: Buffer) =>
    Buffer.concat([
      Buffer.from([0, length >>> 24, (length >>> 16) & 255, (length >>> 8) & 255, length & 255]),
      payload,
    ]);

  it("survives garbage bytes on the port", async () => {
    await new Promise<void>((resolve) => {
      const socket = connectTcp(stack.gateway.port, "127.0.0.1", () => {
        socket.end(randomBytes(4096));
      });
      let answer = "";
      // Read the answer: a paused socket never reaches "close".
      socket.on("data", (c: Buffer) => (answer += c.toString()));
      socket.on("close", () => {
        expect(answer).toMatch(/^HTTP\/1\.1 400/);
        resolve();
      });
      socket.on("error", () => undefined);
    });
    await stillServing();
  });

  it("answers a truncated gRPC frame with an error status", async () => {
    const r = await raw(
      { ":path": path, "content-type": "application/grpc", te: "trailers" },
      grpcFrame(100, Buffer.from("0123456789")),
    );
    expect(r.grpcStatus).toBeDefined();
    expect(r.grpcStatus).not.toBe("0");
    await stillServing();
  });

  it("answers a wrong content-type with 415", async () => {
    expect(
      (await raw({ ":path": path, "content-type": "text/plain" }, Buffer.from("hello"))).status,
    ).toBe(415);
    await stillServing();
  });

  it("answers invalid JSON with invalid_argument", async () => {
    const r = await raw(
      { ":path": path, "content-type": "application/json" },
      Buffer.from("{not json"),
    );
    expect(r.status).toBe(400);
    expect(r.body).toContain("invalid_argument");
    await stillServing();
  });

  it("answers a frame declaring 4 GiB with RESOURCE_EXHAUSTED, before reading it", async () => {
    const r = await raw(
      { ":path": path, "content-type": "application/grpc", te: "trailers" },
      grpcFrame(0xffffffff, Buffer.from("x")),
    );
    expect(r.grpcStatus).toBe(String(Code.ResourceExhausted));
    await stillServing();
  });

  it("survives an HTTP/2 rapid-reset burst", async () => {
    const session = connectHttp2(stack.gateway.url);
    session.on("error", () => undefined);
    for (let i = 0; i < 1000; i++) {
      const req = session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
      });
      req.on("error", () => undefined);
      req.close(constants.NGHTTP2_CANCEL);
    }
    await new Promise((r) => setTimeout(r, 300));
    session.destroy();
    await stillServing();
  });
});
