import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ImageService, Operation_Status, type Operation } from "@imagesvc/proto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { imageRequest, startStack, watchVersions } from "./stack.test-helper";

describe("serving", () => {
  it("ends open streams with UNAVAILABLE when the gateway drains", async () => {
    const stack = await startStack({ emulator: { operationDurationMs: 60_000 } });
    try {
      await stack.startWorker();
      const op = await stack.client.createImage(imageRequest("drain"));
      const streams = Array.from({ length: 20 }, () =>
        watchVersions(stack, op).catch((e: unknown) => e),
      );
      for (let i = 0; i < 100 && stack.gateway.bus.stats().watchers < 20; i++)
        await new Promise((r) => setTimeout(r, 20));
      const started = Date.now();
      await stack.gateway.close();
      const outcomes = await Promise.all(streams);
      expect(Date.now() - started).toBeLessThan(2000);
      for (const outcome of outcomes) {
        expect(outcome).toBeInstanceOf(ConnectError);
        expect((outcome as ConnectError).code).toBe(Code.Unavailable);
      }
    } finally {
      await stack.close().catch(() => undefined);
    }
  });

  it.each(["1.1", "2"] as const)(
    "logs a watcher going away mid-operation as one debug line, not an error (HTTP/%s)",
    async (httpVersion) => {
      const lines: { level: number; msg: string; err?: unknown }[] = [];
      const log = pino(
        { level: "debug" },
        { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) },
      );
      const stack = await startStack({ gateway: { log } });
      try {
        // No worker: the operation stays PENDING, so the stream is cut mid-operation.
        const op = await stack.client.createImage(
          imageRequest(`gone-h${httpVersion === "2" ? "2" : "1"}`),
        );
        const client = createClient(
          ImageService,
          createConnectTransport({ baseUrl: stack.gateway.url, httpVersion }),
        );
        const abort = new AbortController();
        const stream = client.watchOperation(
          { project: op.project, operation: op.name },
          { signal: abort.signal },
        );
        for await (const version of stream) {
          expect(version.name).toBe(op.name);
          abort.abort();
        }
      } catch (e) {
        expect(ConnectError.from(e).code).toBe(Code.Canceled);
      } finally {
        // Time for the gateway to see the stream go and log whatever it logs.
        await new Promise((r) => setTimeout(r, 300));
        await stack.close();
      }
      expect(lines.filter((l) => l.level >= 50)).toEqual([]);
      // Over HTTP/1.1 the handler sees the abort as an error: it is logged as one debug line.
      // Over HTTP/2 the stream is reset and the handler simply ends: nothing to log at all.
      const gone = lines.filter((l) => l.msg === "the client went away");
      expect(gone).toHaveLength(httpVersion === "1.1" ? 1 : 0);
      for (const line of gone) {
        expect(line).toMatchObject({ level: 20, rpc: "WatchOperation" });
        expect(line.err).toBeUndefined();
      }
    },
  );

  it("refuses a message over readMaxBytes with RESOURCE_EXHAUSTED", async () => {
    const stack = await startStack({ gateway: { settings: { READ_MAX_BYTES: 64 * 1024 } } });
    try {
      const before = await stack.keys();
      const request = imageRequest("big");
      const error = await stack.client
        .createImage({
          ...request,
          image: { ...request.image, description: "x".repeat(100 * 1024) },
        })
        .catch((e: unknown) => e);
      expect((error as ConnectError).code).toBe(Code.ResourceExhausted);
      expect(await stack.keys()).toEqual(before);
    } finally {
      await stack.close();
    }
  });

  it("serves TLS when given a certificate, over HTTP/2 and HTTP/1.1, gRPC included", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gateway-tls-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    const cert = readFileSync(join(dir, "cert.pem"));
    const stack = await startStack({
      gateway: { tls: { cert, key: readFileSync(join(dir, "key.pem")) } },
    });
    try {
      expect(stack.gateway.url).toMatch(/^https:/);
      for (const httpVersion of ["2", "1.1"] as const) {
        const client = createClient(
          ImageService,
          createConnectTransport({
            baseUrl: stack.gateway.url,
            httpVersion,
            nodeOptions: { ca: cert },
          }),
        );
        const op = await client.createImage(imageRequest(`tls-${httpVersion.replace(".", "")}`));
        expect(op.status).toBe(Operation_Status.PENDING);
      }
      // gRPC takes the gateway's gRPC path, on the same TLS port: a create, then its stream.
      const grpc = createClient(
        ImageService,
        createGrpcTransport({ baseUrl: stack.gateway.url, nodeOptions: { ca: cert } }),
      );
      // The gRPC path offers gzip alone; connect-node offers "gzip, br": this tells which served.
      let acceptEncoding: string | null = null;
      const op = await grpc.createImage(imageRequest("tls-grpc"), {
        onHeader: (h) => {
          acceptEncoding = h.get("grpc-accept-encoding");
        },
      });
      expect(acceptEncoding).toBe("gzip");
      const stream = grpc
        .watchOperation({ project: op.project, operation: op.name })
        [Symbol.asyncIterator]();
      const first = (await stream.next()).value as Operation | undefined;
      await stream.return?.();
      expect(first?.name).toBe(op.name);
    } finally {
      await stack.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a worker killed mid-job", () => {
  it("has its job re-run by another worker, with one image", async () => {
    const stack = await startStack({ emulator: { operationDurationMs: 3000, waitCapMs: 60_000 } });
    try {
      const first = await stack.startWorker({ JOB_LOCK_MS: "1000" });
      const op = await stack.client.createImage(imageRequest("killed"));
      for (
        let i = 0;
        i < 200 && stack.emulator.admin.state().calls["globalOperations.wait"] === undefined;
        i++
      ) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await first.stop("SIGKILL");
      await stack.startWorker({ JOB_LOCK_MS: "1000" });
      const done = (await watchVersions(stack, op)).at(-1);
      expect(done?.status).toBe(Operation_Status.DONE);
      expect(done?.error).toBeUndefined();
      const images = stack.emulator.admin.state().images.filter((i) => i.name === "killed");
      expect(images).toHaveLength(1);
      // The re-run resumed the Compute operation the first worker recorded: no second insert.
      expect(stack.emulator.admin.state().insertCalls[op.clientOperationId]).toBe(1);
    } finally {
      await stack.close();
    }
  });
});
