// A real stack for end-to-end tests: the Compute emulator, a real Redis, the gateway in this
// process on port 0, and the worker as a child process running its built main.js.
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  startComputeEmulator,
  type ComputeEmulator,
  type EmulatorOptions,
} from "@imagesvc/compute-emulator";
import type { ResolvedSettings } from "@imagesvc/config";
import { create } from "@bufbuild/protobuf";
import { ACCEPTED, encodeLifecycle } from "@imagesvc/lifecycle";
import { createOperationStore } from "@imagesvc/operations";
import { ImageService, Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import { storedRequest } from "@imagesvc/queue";
import { createRedisClient, parseRedisUrl, type RedisClient } from "@imagesvc/redis";
import {
  freePort,
  spawnApp,
  testSettings,
  useTestRedis,
  type RedisCluster,
  type SpawnedApp,
} from "@imagesvc/testing";
import { Storage } from "@google-cloud/storage";
import { diskSectors, tarHeader } from "@imagesvc/preflight/testing";
import { Cluster } from "ioredis";
import { gzipSync } from "node:zlib";
import { randomBytes, randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createMetrics } from "@imagesvc/telemetry";
import { pino } from "pino";
import {
  newOperationName,
  startGateway,
  type Gateway,
  type GatewayOptions,
} from "@imagesvc/image-service";

const WORKER_MAIN = fileURLToPath(new URL("../../../../dist/apps/worker/main.js", import.meta.url));
const GATEWAY_MAIN = fileURLToPath(
  new URL("../../../../dist/apps/gateway/main.js", import.meta.url),
);

export interface Stack {
  readonly emulator: ComputeEmulator;
  /** The stack's Redis: one server, or a cluster (then `url` is `redis+cluster://`). */
  readonly redis: { readonly url: string; readonly client: RedisClient };
  readonly prefix: string;
  readonly gateway: Gateway;
  /** A Connect-protocol client over HTTP/2. */
  readonly client: Client<typeof ImageService>;
  transport(kind: "connect" | "grpc-web", httpVersion?: "1.1" | "2"): Transport;
  /** Settings for another in-process gateway on this stack, as the stack's own; `overrides` on top. */
  gatewaySettings(overrides?: Partial<ResolvedSettings<"gateway">>): ResolvedSettings<"gateway">;
  /** The worker's built main.js as a child process, pointed at this stack; stopped by close(). */
  startWorker(env?: Record<string, string>, main?: string): Promise<SpawnedApp>;
  /**
   * A second gateway: the built main.js as a child process on this stack's Redis and prefix, on
   * `port` (a free one by default), with no auth; `env` adds to or overrides that. The caller
   * stops it.
   */
  spawnGateway(
    env?: Record<string, string>,
    port?: string,
    /** Another build's main.js (an earlier release's, say). Default: this tree's. */
    main?: string,
  ): Promise<{ readonly app: SpawnedApp; readonly url: string; readonly port: string }>;
  /** Redis keys of this stack (records, indexes, jobs), without BullMQ's queue metadata. */
  keys(): Promise<string[]>;
  /** Subscriber connections on an operation's channel, across every node. */
  subscriptions(channel: string): Promise<number>;
  close(): Promise<void>;
}

export interface StackOptions {
  readonly emulator?: EmulatorOptions;
  /** The in-process gateway's options, and its settings (by variable name) over the stack's. */
  readonly gateway?: Partial<Omit<GatewayOptions, "settings">> & {
    readonly settings?: Partial<ResolvedSettings<"gateway">>;
  };
  /** Run on this Redis Cluster (the caller starts and closes it) instead of the shared Redis. */
  readonly cluster?: RedisCluster;
}

/** An in-process gateway's settings on the stack's Redis and prefix; `overrides` on top. */
function gatewaySettings(
  url: string,
  prefix: string,
  overrides: Partial<ResolvedSettings<"gateway">> = {},
): ResolvedSettings<"gateway"> {
  return testSettings("gateway", {
    PORT: 0,
    HOST: "127.0.0.1",
    REDIS_URL: url,
    REDIS_PREFIX: prefix,
    DEFAULT_USER: "tester@example.com",
    JOB_BACKOFF_MS: 50,
    // Tests create many images as one user; the limit itself is tested with its own settings.
    RATE_LIMIT_CREATE_PER_MINUTE: 1_000_000,
    RATE_LIMIT_CREATE_BURST: 1_000_000,
    MAX_STREAMS_PER_PRINCIPAL: 1_000_000,
    ...overrides,
  });
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const emulator = await startComputeEmulator({
    operationDurationMs: 600,
    waitCapMs: 100,
    ...options.emulator,
  });
  const { cluster } = options;
  const single = cluster === undefined ? await useTestRedis() : undefined;
  const prefix = single?.prefix.slice(0, -1) ?? `t:${randomBytes(6).toString("hex")}`;
  const url = cluster?.url ?? single?.url ?? "";
  const client =
    single?.client ?? createRedisClient(parseRedisUrl(url), { maxRetriesPerRequest: 1 });
  const masters = () => (client instanceof Cluster ? client.nodes("master") : [client]);
  const gateway = await startGateway({
    log: pino({ level: "silent" }),
    metrics: createMetrics("gateway-test"),
    ...options.gateway,
    settings: gatewaySettings(url, prefix, options.gateway?.settings),
  });
  const workers: SpawnedApp[] = [];
  const transport = (kind: "connect" | "grpc-web", httpVersion: "1.1" | "2" = "2") =>
    kind === "connect"
      ? createConnectTransport({ baseUrl: gateway.url, httpVersion })
      : createGrpcWebTransport({ baseUrl: gateway.url, httpVersion });

  return {
    emulator,
    redis: { url, client },
    prefix,
    gateway,
    client: createClient(ImageService, transport("connect")),
    transport,
    gatewaySettings: (overrides) => gatewaySettings(url, prefix, overrides),
    async startWorker(env = {}, main = WORKER_MAIN) {
      // main.js logs "worker ready" once BullMQ is connected.
      const worker = await spawnApp({
        main,
        env: {
          ...(cluster === undefined
            ? { REDIS_URL: url }
            : { REDIS_URL: "", REDIS_CLUSTER_NODES: cluster.nodes }),
          REDIS_PREFIX: prefix,
          COMPUTE_ENDPOINT: emulator.url,
          GCE_METADATA_HOST: emulator.metadataHost,
          METADATA_SERVER_DETECTION: "assume-present",
          JOB_BACKOFF_MS: "50",
          ADMIN_PORT: "0",
          WAIT_RETRY_INITIAL_MS: "50",
          WAIT_RETRY_MAX_MS: "200",
          // The emulator's waits are compressed (100 ms for Compute's 2 minutes); so are these.
          WAIT_MIN_INTERVAL_MS: "20",
          IMAGE_POLL_MS: "100",
          // Settling unanswered inserts and 404s, compressed alike.
          REQUEST_ID_MEMORY_MS: "1000",
          INSERT_SETTLE_MS: "500",
          NOT_FOUND_GRACE_MS: "200",
          ...env,
        },
        ready: "worker ready",
      });
      workers.push(worker);
      return worker;
    },
    async spawnGateway(env = {}, port?: string, main = GATEWAY_MAIN) {
      const chosen = port ?? String(await freePort());
      const app = await spawnApp({
        main,
        env: {
          PORT: chosen,
          HOST: "127.0.0.1",
          REDIS_URL: url,
          REDIS_PREFIX: prefix,
          AUTH_MODE: "none",
          // The deployment's shared settings, as the stack's workers have them.
          JOB_BACKOFF_MS: "50",
          // The raw disk pre-flight reads the emulator's Cloud Storage with its tokens.
          STORAGE_ENDPOINT: emulator.url,
          GCE_METADATA_HOST: emulator.metadataHost,
          METADATA_SERVER_DETECTION: "assume-present",
          ...env,
        },
        ready: "gateway listening",
      });
      return { app, url: `http://127.0.0.1:${chosen}`, port: chosen };
    },
    keys,
    async subscriptions(channel) {
      const counts = await Promise.all(
        masters().map(async (node) => {
          const reply = (await node.call(
            "PUBSUB",
            cluster === undefined ? "NUMSUB" : "SHARDNUMSUB",
            channel,
          )) as [string, number];
          return reply[1];
        }),
      );
      return counts.reduce((a, b) => a + b, 0);
    },
    async close() {
      for (const w of workers) await w.stop();
      await gateway.close();
      await emulator.close();
      for (const key of await keys()) await client.unlink(key);
      if (single !== undefined) await single.cleanup();
      else await client.quit();
    },
  };

  async function keys(): Promise<string[]> {
    // After a failover the client's list of masters may still hold the failed one: ask anew.
    if (client instanceof Cluster)
      await new Promise<void>((resolve) => {
        client.refreshSlotsCache(() => {
          resolve();
        });
      });
    const found: string[] = [];
    for (const node of masters()) {
      for (const pattern of [`${prefix}:*`, `{${prefix}:*`]) {
        let cursor = "0";
        do {
          const [next, batch] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
          cursor = next;
          found.push(...batch);
        } while (cursor !== "0");
      }
    }
    // BullMQ writes its queue's `meta` key on its own schedule after start-up; it is not data.
    return found.filter((k) => !k.endsWith(":meta")).sort();
  }
}

/** An ImageService client over Connect on HTTP/2 that sends `headers` with every call. */
export function serviceClient(
  baseUrl: string,
  headers: Record<string, string> = {},
): Client<typeof ImageService> {
  return createClient(
    ImageService,
    createConnectTransport({
      baseUrl,
      httpVersion: "2",
      interceptors: [
        (next) => (req) => {
          for (const [name, value] of Object.entries(headers)) req.header.set(name, value);
          return next(req);
        },
      ],
    }),
  );
}

/** Collects a stream until it ends. */
export async function drain(stream: AsyncIterable<Operation>): Promise<Operation[]> {
  const out: Operation[] = [];
  for await (const op of stream) out.push(op);
  return out;
}

/** What names one of my-project's operations in a Get, Wait, Watch or CancelOperation request. */
export const operationRef = (op: { readonly name: string }) => ({
  project: "my-project",
  operation: op.name,
});

/** Every version a watcher of `op` sees on `stack` until the stream ends: at DONE, or failing. */
export const watchVersions = (stack: Stack, op: { readonly name: string }) =>
  drain(stack.client.watchOperation(operationRef(op)));

/** A CreateImage request body with a fresh image name. */
export function imageRequest(name: string, object = "images/web.tar.gz") {
  return {
    project: "my-project",
    image: { name, rawDisk: { source: `https://storage.googleapis.com/my-bucket/${object}` } },
  };
}

/**
 * Puts `data` at `my-bucket/OBJECT` in the emulator's Cloud Storage with @google-cloud/storage
 * and a token from the emulator's metadata server, as a client would; returns its `rawDisk.source`.
 */
export async function uploadObject(
  emulator: ComputeEmulator,
  object: string,
  data: Buffer,
  metadata: Record<string, string> = {},
): Promise<string> {
  process.env["GCE_METADATA_HOST"] = emulator.metadataHost;
  process.env["METADATA_SERVER_DETECTION"] = "assume-present";
  await new Storage({ apiEndpoint: emulator.url, useAuthWithCustomEndpoint: true })
    .bucket("my-bucket")
    .file(object)
    .save(data, { resumable: false, metadata });
  return `https://storage.googleapis.com/my-bucket/${object}`;
}

/** A raw disk archive (gzip, GNU tar, 1 GiB, an MBR) whose one member is named `member`. */
export const archiveOf = (member: string) =>
  gzipSync(Buffer.concat([tarHeader(member, 1024 ** 3), diskSectors("mbr")]));

/**
 * What a gateway leaves behind when it dies between writing an operation's record and queueing
 * its job: the record (PENDING, `accepted`, with its stored request), and no job. Written with
 * the store the gateway uses; only the sweeper can get such an operation going.
 */
export async function recordWithoutJob(stack: Stack, imageName: string): Promise<string> {
  const store = createOperationStore({
    redis: stack.redis.client,
    prefix: stack.prefix,
    pubsub: "classic",
    retentionMs: 24 * 3600_000,
  });
  const now = new Date();
  const name = newOperationName(now);
  const requestId = randomUUID();
  const request = imageRequest(imageName);
  await store.create({
    operation: create(OperationSchema, {
      kind: "compute#operation",
      name,
      project: request.project,
      operationType: "insert",
      status: Operation_Status.PENDING,
      clientOperationId: requestId,
      targetLink: `https://compute.googleapis.com/compute/v1/projects/${request.project}/global/images/${imageName}`,
      user: "tester@example.com",
      insertTime: now.toISOString(),
    }),
    requestId,
    fingerprint: "the gateway died",
    request: JSON.stringify(
      storedRequest({
        project: request.project,
        operation: name,
        requestId,
        image: request.image,
        forceCreate: false,
        acceptedMs: now.getTime(),
      }),
    ),
    notification: "",
    lifecycle: encodeLifecycle(ACCEPTED),
  });
  return name;
}

/** Creates images of `family` in my-project from Debian's public image, one by one, each to DONE. */
export async function createFamily(
  client: Client<typeof ImageService>,
  family: string,
  names: readonly string[],
): Promise<Operation[]> {
  const done: Operation[] = [];
  for (const name of names) {
    let op = await client.createImage({
      project: "my-project",
      image: { name, family, sourceImage: "projects/debian-cloud/global/images/family/debian-12" },
    });
    while (op.status !== Operation_Status.DONE)
      op = await client.waitOperation({ project: "my-project", operation: op.name });
    done.push(op);
  }
  return done;
}
