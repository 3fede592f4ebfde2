// A real stack for end-to-end tests: the Compute emulator, a real Redis, the gateway in this
// process on port 0, and the worker as a child process running its built main.js.
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  startComputeEmulator,
  type ComputeEmulator,
  type EmulatorOptions,
} from "@imagesvc/compute-emulator";
import { ImageService, type Operation } from "@imagesvc/proto";
import { spawnApp, useTestRedis, type SpawnedApp, type TestRedis } from "@imagesvc/testing";
import { fileURLToPath } from "node:url";
import { createMetrics } from "@imagesvc/telemetry";
import { pino } from "pino";
import { startGateway, type Gateway, type GatewayOptions } from "../gateway";

const WORKER_MAIN = fileURLToPath(new URL("../../../../dist/apps/worker/main.js", import.meta.url));

export interface Stack {
  readonly emulator: ComputeEmulator;
  readonly redis: TestRedis;
  readonly prefix: string;
  readonly gateway: Gateway;
  /** A Connect-protocol client over HTTP/2. */
  readonly client: Client<typeof ImageService>;
  transport(kind: "connect" | "grpc-web", httpVersion?: "1.1" | "2"): Transport;
  /** The worker's built main.js as a child process, pointed at this stack; stopped by close(). */
  startWorker(env?: Record<string, string>): Promise<SpawnedApp>;
  /** Redis keys of this stack (records, indexes, jobs), without BullMQ's queue metadata. */
  keys(): Promise<string[]>;
  close(): Promise<void>;
}

export interface StackOptions {
  readonly emulator?: EmulatorOptions;
  readonly gateway?: Partial<GatewayOptions>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const emulator = await startComputeEmulator({
    operationDurationMs: 600,
    waitCapMs: 100,
    ...options.emulator,
  });
  const redis = await useTestRedis();
  const prefix = redis.prefix.slice(0, -1);
  const gateway = await startGateway({
    port: 0,
    host: "127.0.0.1",
    redisUrl: redis.url,
    prefix,
    defaultUser: "tester@example.com",
    jobBackoffMs: 50,
    // Tests create many images as one user; the limit itself is tested with its own settings.
    rateLimit: { perMinute: 1_000_000, burst: 1_000_000 },
    maxStreamsPerPrincipal: 1_000_000,
    log: pino({ level: "silent" }),
    metrics: createMetrics("gateway-test"),
    ...options.gateway,
  });
  const workers: SpawnedApp[] = [];
  const transport = (kind: "connect" | "grpc-web", httpVersion: "1.1" | "2" = "2") =>
    kind === "connect"
      ? createConnectTransport({ baseUrl: gateway.url, httpVersion })
      : createGrpcWebTransport({ baseUrl: gateway.url, httpVersion });

  return {
    emulator,
    redis,
    prefix,
    gateway,
    client: createClient(ImageService, transport("connect")),
    transport,
    async startWorker(env = {}) {
      // main.js logs "worker ready" once BullMQ is connected.
      const worker = await spawnApp({
        main: WORKER_MAIN,
        env: {
          REDIS_URL: redis.url,
          REDIS_PREFIX: prefix,
          COMPUTE_ENDPOINT: emulator.url,
          GCE_METADATA_HOST: emulator.metadataHost,
          METADATA_SERVER_DETECTION: "assume-present",
          JOB_BACKOFF_MS: "50",
          ADMIN_PORT: "0",
          WAIT_RETRY_INITIAL_MS: "50",
          WAIT_RETRY_MAX_MS: "200",
          ...env,
        },
        ready: "worker ready",
      });
      workers.push(worker);
      return worker;
    },
    keys,
    async close() {
      for (const w of workers) await w.stop();
      await gateway.close();
      await emulator.close();
      for (const key of await keys()) await redis.client.unlink(key);
      await redis.cleanup();
    },
  };

  async function keys(): Promise<string[]> {
    const found: string[] = [];
    for (const pattern of [`${prefix}:*`, `{${prefix}:*`]) {
      let cursor = "0";
      do {
        const [next, batch] = await redis.client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
        cursor = next;
        found.push(...batch);
      } while (cursor !== "0");
    }
    // BullMQ writes its queue's `meta` key on its own schedule after start-up; it is not data.
    return found.filter((k) => !k.endsWith(":meta")).sort();
  }
}

/** Collects a stream until it ends. */
export async function drain(stream: AsyncIterable<Operation>): Promise<Operation[]> {
  const out: Operation[] = [];
  for await (const op of stream) out.push(op);
  return out;
}

/** A CreateImage request body with a fresh image name. */
export function imageRequest(name: string, object = "images/web.tar.gz") {
  return {
    project: "my-project",
    image: { name, rawDisk: { source: `https://storage.googleapis.com/my-bucket/${object}` } },
  };
}
