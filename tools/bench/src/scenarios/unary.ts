import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { operationKeys } from "@imagesvc/operations";
import { CreateImageRequestSchema, healthV1 } from "@imagesvc/proto";
import type { Redis } from "ioredis";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { grpcFrame } from "../grpc-unary";
import { runUnary, type UnaryResult } from "../h2load";
import type { AppProcess } from "../processes";
import { commandsBetween, redisSnapshot } from "../redis-stats";
import { createRequest, log, PREFIX, PROJECT, SETTINGS } from "../settings";
import { round } from "../stats";

export async function unaryCeiling(gateway: AppProcess, redis: Redis) {
  const request = createRequest("bench-image");
  const grpcHeaders = { "content-type": "application/grpc", te: "trailers" };
  const jsonHeaders = { "content-type": "application/json" };
  const base = {
    connections: 4,
    streamsPerConnection: SETTINGS.concurrency / 4,
    seconds: SETTINGS.unarySeconds,
    warmupSeconds: SETTINGS.warmupSeconds,
  };
  const created = () => redis.zcard(operationKeys(PREFIX, PROJECT, "").all);
  const cases = {
    grpc: {
      ceiling: {
        url: `${gateway.url}/grpc.health.v1.Health/Check`,
        body: grpcFrame(
          toBinary(healthV1.HealthCheckRequestSchema, create(healthV1.HealthCheckRequestSchema)),
        ),
        headers: grpcHeaders,
      },
      create: {
        url: `${gateway.url}/computeimages.v1.ImageService/CreateImage`,
        body: grpcFrame(toBinary(CreateImageRequestSchema, request)),
        headers: grpcHeaders,
      },
    },
    connectJson: {
      ceiling: {
        url: `${gateway.url}/grpc.health.v1.Health/Check`,
        body: new TextEncoder().encode("{}"),
        headers: jsonHeaders,
      },
      create: {
        url: `${gateway.url}/computeimages.v1.ImageService/CreateImage`,
        body: new TextEncoder().encode(toJsonString(CreateImageRequestSchema, request)),
        headers: jsonHeaders,
      },
    },
  };
  const out: Record<
    string,
    {
      ceiling: UnaryResult;
      create: UnaryResult;
      ratio: number;
      operationsCreated: number;
      /** What one CreateImage costs: gateway CPU, Redis CPU and Redis commands. */
      perCreate: { gatewayCpuUs: number; redisCpuUs: number; redisCommands: number };
      /** The gateway's CPU per no-op call (Health/Check) in the ceiling run: the edge's floor. */
      noopGatewayCpuUs: number;
    }
  > = {};
  for (const [protocol, pair] of Object.entries(cases)) {
    const noopCpuBefore = gateway.cpuSeconds();
    const ceiling = await runUnary({ ...base, ...pair.ceiling });
    const noopCpu = gateway.cpuSeconds() - noopCpuBefore;
    const before = await created();
    const redisBefore = await redisSnapshot(redis);
    const cpuBefore = gateway.cpuSeconds();
    const createRun = await runUnary({ ...base, ...pair.create });
    const cpu = gateway.cpuSeconds() - cpuBefore;
    const redisAfter = await redisSnapshot(redis);
    const operationsCreated = (await created()) - before;
    // The bench's own reads around the run (ZCARD, INFO) stay out of the count.
    const commands = [...commandsBetween(redisBefore, redisAfter).entries()]
      .filter(([command]) => command !== "zcard")
      .reduce((n, [, calls]) => n + calls, 0);
    // h2load counts HTTP 200s; a gRPC error is a 200 too, so check the records really exist.
    if (operationsCreated < createRun.succeeded || createRun.failed > 0) {
      throw new Error(
        `${protocol}: ${String(createRun.succeeded)} CreateImage answered but ${String(operationsCreated)} operations were recorded`,
      );
    }
    out[protocol] = {
      ceiling,
      create: createRun,
      ratio: round(createRun.perSecond / ceiling.perSecond, 3),
      operationsCreated,
      noopGatewayCpuUs: round((noopCpu / ceiling.answeredWithWarmup) * 1e6, 0),
      perCreate: {
        gatewayCpuUs: round((cpu / operationsCreated) * 1e6, 0),
        redisCpuUs: round((redisAfter.cpuUs - redisBefore.cpuUs) / operationsCreated, 0),
        redisCommands: round(commands / operationsCreated, 1),
      },
    };
    log(
      `  ${protocol}: CreateImage ${round(createRun.perSecond, 0)}/s, ceiling ${round(ceiling.perSecond, 0)}/s`,
    );
  }
  // The ceiling of a mature gRPC server on the same machine and load: @grpc/grpc-js's Server.
  const grpcJs = await grpcJsCeiling({ ...base, ...cases.grpc.ceiling });
  const grpcCreate = out["grpc"]?.create.perSecond ?? 0;
  log(`  grpc-js no-op ceiling ${round(grpcJs.perSecond, 0)}/s`);
  return {
    protocols: out,
    grpcJs: { ceiling: grpcJs, createOverCeiling: round(grpcCreate / grpcJs.perSecond, 3) },
  };
}

/** h2load on @grpc/grpc-js's Server answering Health/Check, in a process of its own. */
async function grpcJsCeiling(load: Parameters<typeof runUnary>[0]): Promise<UnaryResult> {
  const child = spawn(process.execPath, [join(import.meta.dirname, "grpc-js-ceiling.js")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const port = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
        const m = /PORT (\d+)/.exec(out);
        if (m?.[1] !== undefined) resolve(m[1]);
      });
      child.once("exit", (code) => {
        reject(new Error(`grpc-js-ceiling exited with ${String(code)}`));
      });
    });
    return await runUnary({ ...load, url: `http://127.0.0.1:${port}/grpc.health.v1.Health/Check` });
  } finally {
    child.kill("SIGTERM");
  }
}
