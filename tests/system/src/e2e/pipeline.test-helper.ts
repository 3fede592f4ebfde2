// The end-to-end cases of the pipeline, run against one Redis (pipeline.int.spec.ts) and against
// a Redis Cluster (pipeline-cluster.int.spec.ts).
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { BadRequestSchema, ImageService, Operation_Status, type Operation } from "@imagesvc/proto";
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  drain,
  imageRequest,
  startStack,
  type Stack,
  type StackOptions,
} from "./stack.test-helper";

const PROTO_DIR = fileURLToPath(new URL("../../../../proto", import.meta.url));
const uniqueName = (base: string) => `${base}-${randomBytes(4).toString("hex")}`;
/** Registers every pipeline case; `base` gives the options each stack starts with. */
export function pipelineSuite(base: () => StackOptions): void {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack(base());
    await stack.startWorker();
  });
  afterAll(async () => {
    await stack.close();
  });

  /** Watches an operation of my-project to its end; the last state seen. */
  const finalState = async (operation: string) =>
    (await drain(stack.client.watchOperation({ project: "my-project", operation }))).at(-1);
  const imagesNamed = (name: string) =>
    stack.emulator.admin.state().images.filter((i) => i.name === name);

  /** Asserts the shape every successful watch has: PENDING, RUNNING with rising progress, DONE. */
  function expectLifecycle(seen: { version: number; status: string; progress: number }[]) {
    const versions = seen.map((o) => o.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    expect(seen[0]?.status).toBe("PENDING");
    expect(seen.at(-1)?.status).toBe("DONE");
    const running = seen.filter((o) => o.status === "RUNNING").map((o) => o.progress);
    expect(running.length).toBeGreaterThan(0);
    expect(running).toEqual([...running].sort((a, b) => a - b));
    const progress = seen.map((o) => o.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  }

  describe("CreateImage then WatchOperation", () => {
    it("works from a @grpc/grpc-js client loading proto/ with @grpc/proto-loader", async () => {
      const definition = protoLoader.loadSync("computeimages/v1/image_service.proto", {
        includeDirs: [PROTO_DIR],
        longs: String,
        enums: String,
        defaults: true,
      });
      const pkg = grpc.loadPackageDefinition(definition) as unknown as {
        computeimages: { v1: { ImageService: grpc.ServiceClientConstructor } };
      };
      const client = new pkg.computeimages.v1.ImageService(
        stack.gateway.url.replace("http://", ""),
        grpc.credentials.createInsecure(),
      ) as unknown as grpc.Client & {
        CreateImage(
          request: unknown,
          callback: (error: grpc.ServiceError | null, op: Op) => void,
        ): void;
        WatchOperation(request: unknown): grpc.ClientReadableStream<Op>;
      };
      type Op = {
        name: string;
        version: number;
        status: string;
        progress: number;
        targetLink: string;
        targetId: string;
      };
      const name = uniqueName("grpc");
      try {
        const created = await new Promise<Op>((resolve, reject) => {
          client.CreateImage(imageRequest(name), (e: Error | null, op: Op) => {
            if (e) reject(e);
            else resolve(op);
          });
        });
        expect(created).toMatchObject({ status: "PENDING", version: 1 });
        const seen: Op[] = [];
        await new Promise<void>((resolve, reject) => {
          const call = client.WatchOperation({
            project: "my-project",
            operation: created.name,
          });
          call.on("data", (op: Op) => seen.push(op));
          call.on("end", resolve);
          call.on("error", reject);
        });
        expectLifecycle(seen);
        const done = seen.at(-1);
        expect(done?.targetLink).toBe(
          `https://compute.googleapis.com/compute/v1/projects/my-project/global/images/${name}`,
        );
        // One operation, one link: every version carries the link the first one did.
        expect(new Set(seen.map((op) => op.targetLink))).toEqual(new Set([created.targetLink]));
        expect(done?.targetId).toMatch(/^\d+$/);
        expect(imagesNamed(name)).toHaveLength(1);
      } finally {
        client.close();
      }
    });

    it.each([
      ["Connect", "connect", "2"],
      ["gRPC-Web", "grpc-web", "1.1"],
    ] as const)("works over %s", async (_, kind, httpVersion) => {
      const client = createClient(ImageService, stack.transport(kind, httpVersion));
      const name = uniqueName(kind);
      const created = await client.createImage(imageRequest(name));
      const seen = await drain(
        client.watchOperation({ project: "my-project", operation: created.name }),
      );
      expectLifecycle(
        seen.map((o) => ({
          version: o.version,
          status: Operation_Status[o.status],
          progress: o.progress,
        })),
      );
      expect(seen.at(-1)?.targetId).toMatch(/^\d+$/);
      expect(imagesNamed(name)).toHaveLength(1);
    });

    it("answers a unary CreateImage from plain curl over HTTP/1.1", async () => {
      const name = uniqueName("curl");
      const { stdout } = await promisify(execFile)("curl", [
        "-s",
        "-H",
        "content-type: application/json",
        "-d",
        JSON.stringify(imageRequest(name)),
        `${stack.gateway.url}/computeimages.v1.ImageService/CreateImage`,
      ]);
      const op = JSON.parse(stdout) as {
        name: string;
        status: string;
        kind: string;
        operationType: string;
        version: number;
        clientOperationId: string;
        targetLink: string;
        user: string;
        insertTime: string;
      };
      expect(op).toMatchObject({
        kind: "compute#operation",
        operationType: "insert",
        status: "PENDING",
        version: 1,
        user: "tester@example.com",
      });
      expect(op.clientOperationId).toMatch(/^[0-9a-f-]{36}$/);
      expect(op.targetLink).toBe(
        `https://compute.googleapis.com/compute/v1/projects/my-project/global/images/${name}`,
      );
      expect(op.name).toMatch(/^operation-\d+-[0-9a-f]{32}$/);
      expect(Date.parse(op.insertTime)).not.toBeNaN();
    });
  });

  describe("request_id", () => {
    it("gives one operation, one job and one image for a repeat, then for 20 concurrent repeats", async () => {
      const name = uniqueName("rid");
      const request = { ...imageRequest(name), requestId: randomUUID() };
      const first = await stack.client.createImage(request);
      const second = await stack.client.createImage(request);
      expect(second.name).toBe(first.name);
      const many = await Promise.all(
        Array.from({ length: 20 }, () => stack.client.createImage(request)),
      );
      expect(new Set(many.map((o) => o.name))).toEqual(new Set([first.name]));
      await drain(stack.client.watchOperation({ project: "my-project", operation: first.name }));
      expect(imagesNamed(name)).toHaveLength(1);
      const jobs = (await stack.keys()).filter(
        (k) => k.endsWith(`:${first.name}`) && k.startsWith(`{${stack.prefix}:queue}`),
      );
      expect(jobs).toHaveLength(1);
      const { items } = await stack.client.listOperations({ project: "my-project" });
      expect(items.filter((o) => o.clientOperationId === request.requestId)).toHaveLength(1);
    });

    it("refuses a reused request_id with a different body", async () => {
      const requestId = randomUUID();
      await stack.client.createImage({ ...imageRequest(uniqueName("a")), requestId });
      const error = await stack.client
        .createImage({ ...imageRequest(uniqueName("b")), requestId })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.AlreadyExists);
      expect((error as ConnectError).rawMessage).toMatch(/already used for a different request/);
    });
  });

  it("answers an invalid request with INVALID_ARGUMENT listing every violation, and writes nothing", async () => {
    // A stack of its own with no worker, so no other activity changes its keys meanwhile.
    const quiet = await startStack(base());
    try {
      await quiet.client.createImage(imageRequest(uniqueName("before"))); // keys exist, as in a live system
      const before = await quiet.keys();
      const error = await quiet.client
        .createImage({
          project: "Bad Project",
          requestId: "not-a-uuid",
          image: { name: "Web-", rawDisk: { source: "gs://b/x.tar.gz" }, labels: { Env: "x" } },
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      const connectError = error as ConnectError;
      expect(connectError.code).toBe(Code.InvalidArgument);
      const fields = connectError
        .findDetails(BadRequestSchema)[0]
        ?.fieldViolations.map((v) => v.field);
      expect(fields).toEqual([
        "project",
        "image.name",
        'image.labels["Env"]',
        "image.raw_disk.source",
        "request_id",
      ]);
      expect(await quiet.keys()).toEqual(before);
    } finally {
      await quiet.close();
    }
  });

  describe("Compute's errors", () => {
    it("ends DONE with Compute's error fields when the name is taken (409 alreadyExists)", async () => {
      const name = uniqueName("taken");
      const first = await stack.client.createImage(imageRequest(name));
      await drain(stack.client.watchOperation({ project: "my-project", operation: first.name }));
      const second = await stack.client.createImage(imageRequest(name));
      const done = await finalState(second.name);
      expect(done).toMatchObject({
        status: Operation_Status.DONE,
        httpErrorStatusCode: 409,
        httpErrorMessage: "CONFLICT",
      });
      expect(done?.error?.errors[0]?.code).toBe("RESOURCE_ALREADY_EXISTS");
      expect(done?.error?.errors[0]?.message).toContain("already exists");
    });

    it("ends DONE with Compute's error fields when the operation fails asynchronously", async () => {
      const op = await stack.client.createImage(
        imageRequest(uniqueName("missing"), "missing-disk.tar.gz"),
      );
      const done = await finalState(op.name);
      expect(done).toMatchObject({
        status: Operation_Status.DONE,
        httpErrorStatusCode: 404,
        httpErrorMessage: "NOT FOUND",
      });
      expect(done?.error?.errors[0]).toMatchObject({
        code: "RESOURCE_NOT_FOUND",
        location: "rawDisk.source",
      });
    });

    it("still succeeds with one image when Compute answers 503 and 429 on insert and on wait", async () => {
      for (const route of ["images.insert", "globalOperations.wait"]) {
        stack.emulator.admin.addFault({ route, effect: "error", status: 503, count: 2 });
        stack.emulator.admin.addFault({ route, effect: "error", status: 429, count: 2 });
      }
      const name = uniqueName("flaky");
      const op = await stack.client.createImage(imageRequest(name));
      const done = await finalState(op.name);
      expect(done?.status).toBe(Operation_Status.DONE);
      expect(done?.error).toBeUndefined();
      expect(imagesNamed(name)).toHaveLength(1);
      expect(stack.emulator.admin.state().insertCalls[done?.clientOperationId ?? ""]).toBe(5);
      stack.emulator.admin.clearFaults();
    });
  });

  describe("watchers", () => {
    it("gives 100 watchers of one operation identical, strictly increasing versions ending in DONE", async () => {
      const op = await stack.client.createImage(imageRequest(uniqueName("fanout")));
      const runs = Array.from({ length: 100 }, () =>
        drain(stack.client.watchOperation({ project: "my-project", operation: op.name })),
      );
      const sequences = (await Promise.all(runs)).map((seen) =>
        seen.map((o) => `${o.version}:${Operation_Status[o.status]}:${o.progress}`),
      );
      const first = sequences[0] ?? [];
      expect(first.at(-1)).toMatch(/:DONE:100$/);
      const versions = first.map((s) => Number(s.split(":")[0]));
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      for (const sequence of sequences) expect(sequence).toEqual(first);
    });

    it("gives a watcher that arrives after DONE the final state, then ends the stream", async () => {
      const op = await stack.client.createImage(imageRequest(uniqueName("late")));
      const final = await finalState(op.name);
      const late = await drain(
        stack.client.watchOperation({ project: "my-project", operation: op.name }),
      );
      expect(late).toHaveLength(1);
      expect(late[0]?.version).toBe(final?.version);
      expect(late[0]?.status).toBe(Operation_Status.DONE);
    });

    it("answers NOT_FOUND for an unknown operation and for another project's", async () => {
      const op = await stack.client.createImage(imageRequest(uniqueName("mine")));
      for (const [project, operation] of [
        ["my-project", "operation-1-0123456789abcdef0123456789abcdef"],
        ["other-project", op.name],
      ]) {
        const error = await drain(stack.client.watchOperation({ project, operation })).catch(
          (e: unknown) => e,
        );
        expect((error as ConnectError).code).toBe(Code.NotFound);
        const get = await stack.client
          .getOperation({ project, operation })
          .catch((e: unknown) => e);
        expect((get as ConnectError).code).toBe(Code.NotFound);
      }
    });

    it("releases every listener, subscription and timer when 1,000 watchers leave", async () => {
      // The emulator runs in this process: its pending `wait` is a timer too. A wait cap as long
      // as the operation keeps exactly one pending from the worker's first wait to the end.
      stack.emulator.admin.configure({ operationDurationMs: 60_000, waitCapMs: 60_000 });
      try {
        const waits = () => stack.emulator.admin.state().calls["globalOperations.wait"] ?? 0;
        const waitsBefore = waits();
        const op = await stack.client.createImage(imageRequest(uniqueName("leave")));
        for (let i = 0; i < 200 && waits() === waitsBefore; i++)
          await new Promise((r) => setTimeout(r, 20));
        const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
        const subscriberListeners = () =>
          stack.gateway.subscriber.client
            .eventNames()
            .reduce((n, e) => n + stack.gateway.subscriber.client.listenerCount(e), 0);
        const baseline = { timers: timers(), listeners: subscriberListeners() };

        const controllers = Array.from({ length: 1000 }, () => new AbortController());
        const clients = Array.from({ length: 10 }, () =>
          createClient(ImageService, stack.transport("connect")),
        );
        const runs = controllers.map((c, i) =>
          drain(
            clients[i % 10]?.watchOperation(
              { project: "my-project", operation: op.name },
              { signal: c.signal },
            ) ?? (async function* () {})(),
          ).catch((e: unknown) => e),
        );
        for (let i = 0; i < 100 && stack.gateway.bus.stats().watchers < 1000; i++)
          await new Promise((r) => setTimeout(r, 50));
        expect(stack.gateway.bus.stats()).toMatchObject({ channels: 1, watchers: 1000 });

        for (const c of controllers) c.abort();
        await Promise.all(runs);
        for (let i = 0; i < 100 && stack.gateway.bus.stats().watchers > 0; i++)
          await new Promise((r) => setTimeout(r, 20));
        expect(stack.gateway.bus.stats()).toMatchObject({ channels: 0, watchers: 0 });
        const channel = `${stack.prefix}:{my-project}:op:${op.name}`;
        expect(await stack.subscriptions(channel)).toBe(0);
        expect(subscriberListeners()).toBe(baseline.listeners);
        expect(timers()).toBeLessThanOrEqual(baseline.timers);
      } finally {
        stack.emulator.admin.configure({ operationDurationMs: 600, waitCapMs: 100 });
      }
    });
  });

  describe("WaitOperation", () => {
    it("returns at DONE, or at the timeout with the current state", async () => {
      stack.emulator.admin.configure({ operationDurationMs: 5000 });
      const slow = await stack.client.createImage(imageRequest(uniqueName("slow")));
      const started = Date.now();
      const current = await stack.client.waitOperation({
        project: "my-project",
        operation: slow.name,
        timeout: { seconds: 0n, nanos: 300_000_000 },
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(current.status).not.toBe(Operation_Status.DONE);
      stack.emulator.admin.configure({ operationDurationMs: 600 });
      const fast = await stack.client.createImage(imageRequest(uniqueName("fast")));
      const done = await stack.client.waitOperation({
        project: "my-project",
        operation: fast.name,
      });
      expect(done.status).toBe(Operation_Status.DONE);
    });
  });

  describe("CancelOperation", () => {
    let idle: Stack;
    beforeAll(async () => {
      idle = await startStack(base()); // no worker: jobs stay queued
    });
    afterAll(async () => {
      await idle.close();
    });

    it("cancels a queued job: DONE with CANCELLED, and Compute is never called", async () => {
      const op = await idle.client.createImage(imageRequest(uniqueName("cancel")));
      const cancelled = await idle.client.cancelOperation({
        project: "my-project",
        operation: op.name,
      });
      expect(cancelled).toMatchObject({ status: Operation_Status.DONE, version: 2 });
      expect(cancelled.error?.errors[0]?.code).toBe("CANCELLED");
      expect(
        (await idle.client.getOperation({ project: "my-project", operation: op.name })).status,
      ).toBe(Operation_Status.DONE);
      // Cancel is idempotent: a retry (after a lost answer, say) gets the same operation.
      const again = await idle.client.cancelOperation({
        project: "my-project",
        operation: op.name,
      });
      expect(again.version).toBe(cancelled.version);
      expect(again.error?.errors[0]?.code).toBe("CANCELLED");

      // A worker that starts now finds nothing to do.
      await idle.startWorker();
      await new Promise((r) => setTimeout(r, 500));
      expect(idle.emulator.admin.state().calls).toEqual({});
    });

    it("refuses to cancel an operation Compute already has", async () => {
      const op = await stack.client.createImage(imageRequest(uniqueName("started")));
      const done: Operation[] = await drain(
        stack.client.watchOperation({ project: "my-project", operation: op.name }),
      );
      const error = await stack.client
        .cancelOperation({ project: "my-project", operation: op.name })
        .catch((e: unknown) => e);
      expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
      expect(done.at(-1)?.error).toBeUndefined();
    });
  });
}
