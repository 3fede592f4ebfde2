import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { healthV1, reflectionV1, reflectionV1alpha } from "@imagesvc/proto";
import { startRedisServer } from "@imagesvc/testing";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { Policy } from "@imagesvc/image-service";
import { startStack, type Stack } from "./stack.test-helper";

const BUF = fileURLToPath(new URL("../../../../node_modules/.bin/buf", import.meta.url));
/** Runs `buf curl` over gRPC on cleartext HTTP/2 with `args` after. */
const bufCurl = (...args: string[]) =>
  promisify(execFile)(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args]);
const { HealthCheckResponse_ServingStatus: Status } = healthV1;

const dir = mkdtempSync(join(tmpdir(), "gateway-reflection-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
const TOKEN = `dev-${randomBytes(16).toString("hex")}`;
/** A stack whose gateway asks for a bearer token (TOKEN, principal dev@team). */
function startStackWithTokens(): Promise<Stack> {
  const write = (name: string, value: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(value));
    return path;
  };
  const tokensFile = write("tokens.json", { tokens: [{ principal: "dev@team", token: TOKEN }] });
  const policyFile = write("policy.json", {
    grants: [{ principal: "dev@team", projects: ["my-project"], actions: ["read"] }],
  });
  return startStack({
    gateway: { auth: { mode: "tokens", tokensFile }, policy: Policy.load(policyFile) },
  });
}

type ReflectionRequest = MessageInitShape<typeof reflectionV1.ServerReflectionRequestSchema>;
const LIST: ReflectionRequest = { messageRequest: { case: "listServices", value: "" } };

/**
 * One reflection stream over gRPC: sends `LIST` and keeps both sides open until `signal` aborts,
 * as a tool that holds its stream would. Resolves with the first answer's service names, or the
 * error the stream ended with; the stream stays open after that.
 */
function reflect(
  transport: Transport,
  version: "v1" | "v1alpha",
  signal: AbortSignal,
  headers?: Record<string, string>,
): Promise<string[] | ConnectError> {
  async function* requests() {
    yield LIST;
    await new Promise<void>((resolve) => {
      signal.addEventListener(
        "abort",
        () => {
          resolve();
        },
        { once: true },
      );
    });
  }
  const service =
    version === "v1" ? reflectionV1.ServerReflection : reflectionV1alpha.ServerReflection;
  const client = createClient(service as typeof reflectionV1.ServerReflection, transport);
  return new Promise((resolve) => {
    void (async () => {
      try {
        // Reading on (not returning) keeps the call open: leaving the loop would cancel it.
        for await (const res of client.serverReflectionInfo(requests(), { signal, headers })) {
          if (res.messageResponse.case === "listServicesResponse")
            resolve(res.messageResponse.value.service.map((s) => s.name));
        }
        resolve([]);
      } catch (e) {
        resolve(ConnectError.from(e));
      }
    })();
  });
}

describe("server reflection", () => {
  it("lets buf curl call CreateImage over gRPC with no local schema", async () => {
    const stack = await startStack();
    try {
      const { stdout } = await bufCurl(
        "--data",
        JSON.stringify({
          project: "my-project",
          image: { name: "via-reflection", sourceImage: "global/images/base" },
        }),
        `${stack.gateway.url}/computeimages.v1.ImageService/CreateImage`,
      );
      const op = JSON.parse(stdout) as { status: string; name: string; version: number };
      expect(op).toMatchObject({ status: "PENDING", version: 1 });
      for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
        // Every listed service resolves, reflection's own too: both listings exit 0.
        const list = (what: "--list-services" | "--list-methods") =>
          bufCurl("--reflect-protocol", protocol, what, stack.gateway.url);
        const listed = await list("--list-services");
        expect(listed.stdout.split("\n")).toEqual(
          expect.arrayContaining(["computeimages.v1.ImageService", "grpc.health.v1.Health"]),
        );
        const methods = await list("--list-methods");
        expect(methods.stdout.split("\n")).toEqual(
          expect.arrayContaining([
            "computeimages.v1.ImageService/CancelOperation",
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
          ]),
        );
      }
    } finally {
      await stack.close();
    }
  });
});

describe("server reflection with authentication on", () => {
  it("answers UNAUTHENTICATED without a token, on v1 and v1alpha, and lists the services with one", async () => {
    const stack = await startStackWithTokens();
    const transport = createGrpcTransport({ baseUrl: stack.gateway.url });
    const done = new AbortController();
    try {
      for (const version of ["v1", "v1alpha"] as const) {
        const refused = await reflect(transport, version, done.signal);
        expect(refused).toBeInstanceOf(ConnectError);
        expect((refused as ConnectError).code).toBe(Code.Unauthenticated);
        const wrong = await reflect(transport, version, done.signal, {
          authorization: "Bearer not-a-token-of-this-gateway",
        });
        expect((wrong as ConnectError).code).toBe(Code.Unauthenticated);
        expect(
          await reflect(transport, version, done.signal, { authorization: `Bearer ${TOKEN}` }),
        ).toEqual(expect.arrayContaining(["computeimages.v1.ImageService"]));
      }
      // Health stays open: probes carry no credentials.
      const health = createClient(healthV1.Health, transport);
      expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
    } finally {
      done.abort();
      await stack.close();
    }
  });

  it("lets buf curl list the services with the token as a reflection header", async () => {
    const stack = await startStackWithTokens();
    try {
      const { stdout } = await bufCurl(
        "--reflect-header",
        `authorization: Bearer ${TOKEN}`,
        "--list-services",
        stack.gateway.url,
      );
      expect(stdout.split("\n")).toEqual(
        expect.arrayContaining(["computeimages.v1.ImageService", "grpc.health.v1.Health"]),
      );
    } finally {
      await stack.close();
    }
  });
});

describe("reflection streams", () => {
  it("caps open streams per gateway, v1 and v1alpha together: one more is RESOURCE_EXHAUSTED until one ends", async () => {
    const stack = await startStack({ gateway: { settings: { MAX_REFLECTION_STREAMS: 2 } } });
    const transport = createGrpcTransport({ baseUrl: stack.gateway.url });
    const held = [new AbortController(), new AbortController()];
    const later = new AbortController();
    try {
      // Each has had its answer, so each holds its place.
      expect(await reflect(transport, "v1", held[0]?.signal ?? later.signal)).toContain(
        "grpc.health.v1.Health",
      );
      expect(await reflect(transport, "v1alpha", held[1]?.signal ?? later.signal)).toContain(
        "grpc.health.v1.Health",
      );
      for (const version of ["v1", "v1alpha"] as const) {
        const over = await reflect(transport, version, later.signal);
        expect(over).toBeInstanceOf(ConnectError);
        expect((over as ConnectError).code).toBe(Code.ResourceExhausted);
      }
      held[0]?.abort();
      // The server releases the place once it sees the stream end.
      let again: string[] | ConnectError = [];
      for (let i = 0; i < 100; i++) {
        again = await reflect(transport, "v1", later.signal);
        if (!(again instanceof ConnectError)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(again).toContain("computeimages.v1.ImageService");
    } finally {
      for (const c of [...held, later]) c.abort();
      await stack.close();
    }
  });
});

describe("health", () => {
  it("serves grpc.health.v1 Check and List, overall and per service, and the HTTP probes", async () => {
    const stack = await startStack();
    try {
      const health = createClient(healthV1.Health, stack.transport("connect"));
      for (const service of ["", "computeimages.v1.ImageService"]) {
        expect((await health.check({ service })).status).toBe(Status.SERVING);
      }
      const unknown = await health.check({ service: "nope.Service" }).catch((e: unknown) => e);
      expect((unknown as ConnectError).code).toBe(Code.NotFound);
      const list = await health.list({});
      expect(Object.keys(list.statuses).sort()).toEqual([
        "",
        "computeimages.v1.ImageService",
        "grpc.health.v1.Health",
      ]);
      expect((await fetch(`${stack.gateway.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${stack.gateway.url}/readyz`)).status).toBe(200);
    } finally {
      await stack.close();
    }
  });

  it("reports NOT_SERVING while Redis is unreachable, and SERVING again after", async () => {
    const redis = await startRedisServer();
    const stack = await startStack({ gateway: { settings: { REDIS_URL: redis.url } } });
    const health = createClient(healthV1.Health, stack.transport("connect"));
    const statusBecomes = async (want: healthV1.HealthCheckResponse_ServingStatus) => {
      for (let i = 0; i < 100; i++) {
        if ((await health.check({ service: "" })).status === want) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`health never became ${Status[want]}`);
    };
    try {
      await statusBecomes(Status.SERVING);
      await redis.stop();
      await statusBecomes(Status.NOT_SERVING);
      expect((await fetch(`${stack.gateway.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${stack.gateway.url}/healthz`)).status).toBe(200);
      const unavailable = await stack.client
        .getOperation({
          project: "my-project",
          operation: "operation-1-0123456789abcdef0123456789abcdef",
        })
        .catch((e: unknown) => e);
      expect((unavailable as ConnectError).code).toBe(Code.Unavailable);
      await redis.start();
      await statusBecomes(Status.SERVING);
    } finally {
      await stack.close();
      await redis.close();
    }
  });

  it("tells Watch subscribers NOT_SERVING when the gateway drains, then ends their streams", async () => {
    const stack = await startStack();
    const health = createClient(healthV1.Health, stack.transport("connect"));
    const seen: string[] = [];
    const watching = (async () => {
      for await (const r of health.watch({ service: "computeimages.v1.ImageService" }))
        seen.push(Status[r.status]);
    })().catch((e: unknown) => e);
    // Redis may still be connecting when the watch starts; drain once it reports SERVING.
    for (let i = 0; i < 200 && seen.at(-1) !== "SERVING"; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(seen.at(-1)).toBe("SERVING");
    const before = seen.length;
    await stack.close();
    const outcome = await watching;
    expect(seen.slice(before - 1)).toEqual(["SERVING", "NOT_SERVING"]);
    expect((outcome as ConnectError).code).toBe(Code.Unavailable);
  });
});
