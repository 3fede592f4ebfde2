import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { healthV1 } from "@imagesvc/proto";
import { startRedisServer } from "@imagesvc/testing";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { startStack } from "./stack.test-helper";

const BUF = fileURLToPath(new URL("../../../../node_modules/.bin/buf", import.meta.url));
const { HealthCheckResponse_ServingStatus: Status } = healthV1;

describe("server reflection", () => {
  it("lets buf curl call CreateImage over gRPC with no local schema", async () => {
    const stack = await startStack();
    try {
      const { stdout } = await promisify(execFile)(BUF, [
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--data",
        JSON.stringify({
          project: "my-project",
          image: { name: "via-reflection", sourceImage: "global/images/base" },
        }),
        `${stack.gateway.url}/computeimages.v1.ImageService/CreateImage`,
      ]);
      const op = JSON.parse(stdout) as { status: string; name: string; version: number };
      expect(op).toMatchObject({ status: "PENDING", version: 1 });
      for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
        // Every listed service resolves, reflection's own too: both listings exit 0.
        const list = (what: "--list-services" | "--list-methods") =>
          promisify(execFile)(BUF, [
            "curl",
            "--protocol",
            "grpc",
            "--http2-prior-knowledge",
            "--reflect-protocol",
            protocol,
            what,
            stack.gateway.url,
          ]);
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
    const stack = await startStack({ gateway: { redis: redis.url } });
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
