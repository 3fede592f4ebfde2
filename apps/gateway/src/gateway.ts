import {
  Code,
  ConnectError,
  createServiceImplSpec,
  type ConnectRouter,
  type HandlerContext,
} from "@connectrpc/connect";
import { createOperationBus, createOperationStore, type OperationBus } from "@imagesvc/operations";
import {
  file_computeimages_v1_image_service,
  healthV1,
  ImageService,
  reflectionV1,
  reflectionV1alpha,
  type Operation,
} from "@imagesvc/proto";
import { createImageQueue, createWebhookQueue } from "@imagesvc/queue";
import type { SecretBox } from "@imagesvc/secrets";
import type { Metrics } from "@imagesvc/telemetry";
import {
  createRedisClient,
  createSubscriber,
  agreePubSubMode,
  pubSubModeKey,
  parseRedisUrl,
  readyOrTimeout,
  type PubSubSetting,
  type RedisTarget,
  type Subscriber,
} from "@imagesvc/redis";
import type { Logger } from "pino";
import { errorInterceptor } from "./error-interceptor";
import { createAuthenticator, type AuthConfig } from "./auth/authenticator";
import { createRateLimiter, StreamLimiter, type RateLimit } from "./auth/limits";
import { DEFAULT_PUBLIC_IMAGE_PROJECTS } from "./auth/named-resources";
import { Policy } from "./auth/policy";
import { StreamDrain } from "./drain";
import { createHealth } from "./health";
import { consoleFiles } from "./console-files";
import { createImageService } from "./image-service";
import type { RawDiskPreflight } from "@imagesvc/preflight";
import type { WebhookPolicy } from "@imagesvc/validation";
import {
  createConnectHandler,
  createGrpcPath,
  listen,
  type ListenOptions,
} from "@imagesvc/serving";
import { createReflection } from "./reflection";
import { rpcMetricsInterceptor } from "./rpc-metrics";

export interface GatewayOptions {
  /** TCP port; 0 picks a free one. */
  readonly port: number;
  /** Interface. Default: "0.0.0.0". */
  readonly host?: string;
  readonly tls?: ListenOptions["tls"];
  /** Redis: a target, or a URL (`redis://`, `rediss://`, `redis+cluster://host:port,...`). */
  readonly redis: RedisTarget | string;
  /**
   * How updates travel: classic, sharded, or auto (sharded on a cluster whose masters all run
   * Redis 7+). Every process of a deployment uses the mode recorded by the first (see
   * `agreePubSubMode`). Default: auto.
   */
  readonly pubsub?: PubSubSetting;
  /** Deployment prefix for Redis keys; gateways and workers must agree. Default: "imagesvc". */
  readonly prefix?: string;
  /** How long operation records are kept, in ms. Default: 7 days. */
  readonly retentionMs?: number;
  /** How long to wait for Redis before listening anyway (health: NOT_SERVING), in ms. Default: 5000. */
  readonly redisConnectWaitMs?: number;
  /** Timeout of each Redis command, in ms. Default: 5000. */
  readonly redisCommandTimeoutMs?: number;
  /**
   * Retry policy stamped on each job when it is queued (BullMQ keeps it with the job): attempts,
   * and the first retry delay in ms. Defaults: 10 and 1000.
   */
  readonly jobAttempts?: number;
  readonly jobBackoffMs?: number;
  /** How long a new job waits before a worker may take it (a window to cancel in). Default: 0. */
  readonly jobStartDelayMs?: number;
  /** The largest request message accepted, in bytes. Default: 1 MiB. */
  readonly readMaxBytes?: number;
  /** The `user` of operations when `auth` is `none`. */
  readonly defaultUser: string;
  /** How callers authenticate. Default: `none` (local use only), every caller is `defaultUser`. */
  readonly auth?: AuthConfig;
  /** Who may do what; required unless `auth` is `none` (then everyone may do everything). */
  readonly policy?: Policy;
  /**
   * Projects whose images (`source_image`) and licenses (`licenses`) anyone may name without a
   * `use` grant. Default: Google's public image projects (DEFAULT_PUBLIC_IMAGE_PROJECTS).
   */
  readonly publicImageProjects?: readonly string[];
  /** Seals customer-supplied keys before they reach Redis (SECRETS_KEY_FILE). Default: none, and such requests are refused. */
  readonly secrets?: SecretBox;
  /** CreateImage's per-principal rate limit, shared by replicas through Redis. Default: 60/min, bursts of 20. */
  readonly rateLimit?: RateLimit;
  /** Open `grpc.health.v1.Health/Watch` streams on this gateway, from anyone. Default: 100. */
  readonly maxHealthWatches?: number;
  /** Open reflection streams (v1 and v1alpha) on this gateway, from all callers. Default: 100. */
  readonly maxReflectionStreams?: number;
  /** Connection bounds: header and idle timeouts, in ms (see ListenOptions). Defaults: 10000, 120000. */
  readonly headerTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  /**
   * On close, how long calls in flight may take to finish after GOAWAY before their connections
   * are cut, in ms. Default: 5000.
   */
  readonly drainGraceMs?: number;
  /** Open Watch/Wait streams per principal on this gateway. Default: 100. */
  readonly maxStreamsPerPrincipal?: number;
  readonly log: Logger;
  /** Where RPC, stream and delivery metrics go; served on /metrics. */
  readonly metrics: Metrics;
  /**
   * The pre-flight of raw disk sources (`createRawDiskPreflight` of libs/preflight). Default:
   * none, and Compute checks archives itself; main.ts turns it on unless PREFLIGHT=off.
   */
  readonly rawDiskPreflight?: RawDiskPreflight;
  /** The operations console's built files (dist/apps/console), served under /console/. Default: none. */
  readonly consoleDir?: string;
  /** Which webhook URLs CreateImage accepts. Default: none (any notification is refused). */
  readonly webhookPolicy?: WebhookPolicy;
  /** Attempts and first retry delay of a webhook delivery a cancel queues, as the workers' (see libs/queue). Defaults: 10 and 2000 ms. */
  readonly webhookAttempts?: number;
  readonly webhookBackoffMs?: number;
  /** Test-only fault hook between writing a record and queueing its job. */
  readonly afterRecord?: (operation: Operation) => Promise<void>;
}

export interface Gateway {
  readonly url: string;
  readonly port: number;
  readonly bus: OperationBus;
  /** The one subscriber connection (one per shard on a cluster), for tests that count listeners. */
  readonly subscriber: Subscriber;
  /** Re-reads the tokens file (SIGHUP); throws, keeping the old tokens, if the file is bad. */
  reloadAuth(): void;
  /**
   * Drains: open streams end with UNAVAILABLE (clients reconnect elsewhere), then connections
   * close and Redis connections quit.
   */
  close(): Promise<void>;
}

/** The gateway: Connect, gRPC and gRPC-Web on one port, backed by Redis. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const prefix = options.prefix ?? "imagesvc";
  const target = typeof options.redis === "string" ? parseRedisUrl(options.redis) : options.redis;
  const redisConnectWaitMs = options.redisConnectWaitMs ?? 5000;
  const commands = createRedisClient(target, {
    maxRetriesPerRequest: 1,
    autoPipelining: true,
    commandTimeoutMs: options.redisCommandTimeoutMs ?? 5000,
  });
  // A cluster must answer before the gateway knows how its updates travel.
  if (target.kind === "cluster") await readyOrTimeout([commands], redisConnectWaitMs);
  const pubsub = await agreePubSubMode(commands, options.pubsub ?? "auto", pubSubModeKey(prefix));
  const subscriber = createSubscriber(target, pubsub);
  for (const [name, client] of [
    ["commands", commands],
    ["subscriber", subscriber.client],
  ] as const) {
    client.on("error", (e) => {
      options.log.warn({ err: e, connection: name }, "redis connection error");
    });
    for (const event of ["ready", "close", "end", "reconnecting"]) {
      client.on(event, () => {
        health.refresh();
      });
    }
  }
  const streamDrain = new StreamDrain();
  const healthWatches = new StreamLimiter(options.maxHealthWatches ?? 100);
  const health = createHealth(
    [ImageService.typeName, healthV1.Health.typeName],
    () => commands.status === "ready" && subscriber.client.status === "ready",
    streamDrain,
    () => healthWatches.acquire("grpc.health.v1.Health/Watch"),
  );
  const reflectionStreams = new StreamLimiter(options.maxReflectionStreams ?? 100);
  const reflection = createReflection(
    // Every service it lists, reflection's own included: `buf curl --list-methods` and grpcurl
    // ask for the file of each.
    [
      file_computeimages_v1_image_service,
      healthV1.file_grpc_health_v1_health,
      reflectionV1.file_grpc_reflection_v1_reflection,
      reflectionV1alpha.file_grpc_reflection_v1alpha_reflection,
    ],
    [
      ImageService.typeName,
      healthV1.Health.typeName,
      reflectionV1.ServerReflection.typeName,
      reflectionV1alpha.ServerReflection.typeName,
    ],
    () => reflectionStreams.acquire("grpc.reflection ServerReflectionInfo"),
  );
  const store = createOperationStore({
    redis: commands,
    pubsub,
    prefix,
    ...(options.retentionMs !== undefined && { retentionMs: options.retentionMs }),
  });
  const bus = createOperationBus({
    subscriber,
    store,
    prefix,
    onDeliver: (_op, _watchers, publishedMs) => {
      options.metrics.publishToDeliver.observe(Math.max(0, Date.now() - publishedMs) / 1000);
    },
    onError: (e) => {
      options.log.warn(
        { err: e },
        "update bus: dropped a message that does not parse, or a snapshot re-read failed",
      );
    },
  });
  const queue = createImageQueue({
    connection: commands,
    prefix,
    onError: (e) => {
      options.log.warn({ err: e }, "queue connection error");
    },
    ...(options.jobAttempts !== undefined && { attempts: options.jobAttempts }),
    ...(options.jobBackoffMs !== undefined && { backoffMs: options.jobBackoffMs }),
    ...(options.retentionMs !== undefined && { retentionMs: options.retentionMs }),
    ...(options.jobStartDelayMs !== undefined && { startDelayMs: options.jobStartDelayMs }),
  });
  // Deliveries of a cancel's DONE webhook; the workers send them (they hold the signing secret).
  const webhooks = createWebhookQueue({
    connection: commands,
    prefix,
    ...(options.retentionMs !== undefined && { retentionMs: options.retentionMs }),
    ...(options.webhookAttempts !== undefined && { attempts: options.webhookAttempts }),
    ...(options.webhookBackoffMs !== undefined && { backoffMs: options.webhookBackoffMs }),
  });
  const auth = options.auth ?? { mode: "none", user: options.defaultUser };
  const authenticator = createAuthenticator(auth);
  const policy = options.policy ?? (auth.mode === "none" ? Policy.allowAll() : undefined);
  if (policy === undefined)
    throw new Error("a policy is required when callers authenticate (AUTH_POLICY_FILE)");
  const service = createImageService({
    store,
    bus,
    queue,
    webhooks,
    log: options.log,
    policy,
    publicImageProjects: new Set(options.publicImageProjects ?? DEFAULT_PUBLIC_IMAGE_PROJECTS),
    ...(options.secrets && { secrets: options.secrets }),
    rateLimit: createRateLimiter(
      commands,
      prefix,
      options.rateLimit ?? { perMinute: 60, burst: 20 },
    ),
    streams: new StreamLimiter(options.maxStreamsPerPrincipal ?? 100),
    drain: streamDrain,
    ...(options.afterRecord && { afterRecord: options.afterRecord }),
    webhookPolicy: options.webhookPolicy ?? { allowedHosts: [], allowLocalHttp: false },
    ...(options.rawDiskPreflight && {
      rawDiskPreflight: counted(options.rawDiskPreflight, options.metrics),
    }),
  });

  const serveConsole =
    options.consoleDir === undefined ? undefined : consoleFiles(options.consoleDir);
  const interceptors = [rpcMetricsInterceptor(options.metrics), errorInterceptor(options.log)];
  const readMaxBytes = options.readMaxBytes ?? 1 << 20;
  const requestGate = (ctx: HandlerContext) => authenticator.gate(ctx);
  // gRPC's unary and server-streaming calls take the lean path; everything else, connect-node.
  const grpcPath = createGrpcPath({
    services: [
      createServiceImplSpec<typeof ImageService>(ImageService, service),
      createServiceImplSpec<typeof healthV1.Health>(healthV1.Health, health.service),
    ],
    interceptors,
    requestGate,
    readMaxBytes,
  });
  const handler = createConnectHandler({
    routes: (router: ConnectRouter) => {
      router.service(ImageService, service);
      router.service(healthV1.Health, health.service);
      router.service(reflectionV1.ServerReflection, reflection.v1);
      router.service(reflectionV1alpha.ServerReflection, reflection.v1alpha);
    },
    // Plain HTTP probes for load balancers and orchestrators, beside the RPCs.
    fallback: (req, res) => {
      const path = (req.url ?? "").split("?")[0] ?? "";
      if (serveConsole?.(req, res, path) === true) return;
      const reply = (status: number, body: string) => {
        res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
        res.end(body);
      };
      if (path === "/metrics") {
        options.metrics.watchStreams.set(bus.stats().watchers);
        options.metrics.registry.metrics().then(
          (text) => {
            res.writeHead(200, { "content-type": options.metrics.registry.contentType });
            res.end(text);
          },
          (e: unknown) => {
            options.log.error({ err: e }, "metrics failed");
            reply(500, "metrics failed\n");
          },
        );
      } else if (path === "/healthz") reply(200, "ok\n");
      else if (path === "/readyz")
        reply(health.serving() ? 200 : 503, health.serving() ? "ready\n" : "not ready\n");
      else reply(404, "not found\n");
    },
    interceptors,
    readMaxBytes,
    // A typo in a JSON field name is an error, not a silently ignored field.
    jsonOptions: { ignoreUnknownFields: false },
    // Authentication runs before a request body is read or parsed.
    requestGate,
  });
  // Listen once Redis answers, so a fresh gateway is SERVING from its first request. If Redis is
  // down, listen anyway after a while: health reports NOT_SERVING until it comes back.
  await readyOrTimeout([commands, subscriber.client], redisConnectWaitMs);
  const listening = await listen(handler, {
    port: options.port,
    host: options.host ?? "0.0.0.0",
    ...(options.tls && { tls: options.tls }),
    ...(options.headerTimeoutMs !== undefined && { headerTimeoutMs: options.headerTimeoutMs }),
    ...(options.idleTimeoutMs !== undefined && { idleTimeoutMs: options.idleTimeoutMs }),
    takeStream: grpcPath,
  });

  return {
    url: listening.url,
    port: listening.port,
    bus,
    subscriber,
    reloadAuth: () => {
      authenticator.reload();
    },
    async close() {
      health.drain();
      streamDrain.drain(
        new ConnectError(
          "the server is shutting down; reconnect to another instance",
          Code.Unavailable,
        ),
      );
      // Let the handlers see the abort and write their final frames before connections go.
      await new Promise((r) => setTimeout(r, 50));
      // GOAWAY; calls in flight (a CreateImage between its record and its job) finish first.
      await listening.close(options.drainGraceMs ?? 5000);
      await Promise.all([queue.close(), webhooks.close()]);
      bus.close();
      await Promise.allSettled([commands.quit(), subscriber.close()]);
    },
  };
}

/** The pre-flight, counted in `imagesvc_preflight_total` by result and code. */
function counted(check: RawDiskPreflight, metrics: Metrics): RawDiskPreflight {
  return async (source, uefiCompatible) => {
    const verdict = await check(source, uefiCompatible);
    const result = verdict.ok === "unchecked" ? "unchecked" : verdict.ok ? "passed" : "refused";
    metrics.preflights.inc({ result, code: verdict.ok === false ? verdict.code : "" });
    return verdict;
  };
}
