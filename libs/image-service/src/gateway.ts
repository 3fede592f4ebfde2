import {
  Code,
  ConnectError,
  createServiceImplSpec,
  type ConnectRouter,
  type HandlerContext,
} from "@connectrpc/connect";
import {
  createFamilyPolicies,
  createOperationBus,
  createOperationStore,
  createReleaseSchedules,
  type OperationBus,
} from "@imagesvc/operations";
import type { ComputeClient } from "@imagesvc/compute";
import {
  file_computeimages_v1_image_service,
  healthV1,
  ImageService,
  reflectionV1,
  reflectionV1alpha,
} from "@imagesvc/proto";
import { createImageQueue, createWebhookQueue } from "@imagesvc/queue";
import type { SecretBox } from "@imagesvc/secrets";
import { probeHandler, type Metrics } from "@imagesvc/telemetry";
import { sharedSettings, type ResolvedSettings } from "@imagesvc/config";
import {
  agreeDeploymentSettings,
  agreePubSubMode,
  createRedisClient,
  createSubscriber,
  deploymentSettingsKey,
  pubSubModeKey,
  readyOrTimeout,
  redisTarget,
  watchConnections,
  type Subscriber,
} from "@imagesvc/redis";
import type { Logger } from "pino";
import { errorInterceptor } from "./error-interceptor";
import { createAuthenticator, type AuthConfig } from "./auth/authenticator";
import { createRateLimiter, StreamLimiter } from "./auth/limits";
import { DEFAULT_PUBLIC_IMAGE_PROJECTS } from "./auth/named-resources";
import { Policy } from "./auth/policy";
import { StreamDrain } from "./drain";
import { createHealth } from "./health";
import { consoleFiles } from "./console-files";
import { createImageService } from "./image-service";
import type { RawDiskPreflight } from "@imagesvc/preflight";
import {
  createConnectHandler,
  createGrpcPath,
  listen,
  type ListenOptions,
} from "@imagesvc/serving";
import { createReflection } from "./reflection";
import { rpcMetricsInterceptor } from "./rpc-metrics";

export interface GatewayOptions {
  /**
   * The gateway's settings, resolved once by libs/config (`resolveSettings("gateway", env)`):
   * port, Redis, prefix, retention, job and webhook retry policies, limits, timeouts. The
   * defaults live in that one table; this code has none of its own.
   */
  readonly settings: ResolvedSettings<"gateway">;
  /**
   * How the deployment's shared settings are held to the other processes' (libs/redis's
   * agreeDeploymentSettings): who this process is, for the record. Absent: not checked (tests
   * that start several gateways with different settings on purpose).
   */
  readonly deploymentSettings?: { readonly by: string };
  readonly tls?: ListenOptions["tls"];
  /** How callers authenticate. Default: `none` (local use only), every caller is DEFAULT_USER. */
  readonly auth?: AuthConfig;
  /** Who may do what; required unless `auth` is `none` (then everyone may do everything). */
  readonly policy?: Policy;
  /** Seals customer-supplied keys before they reach Redis (SECRETS_KEY_FILE). Without it, such requests are refused. */
  readonly secrets?: SecretBox;
  /** How long to wait for Redis before listening anyway (health: NOT_SERVING), in ms. Default: 5000. */
  readonly redisConnectWaitMs?: number;
  readonly log: Logger;
  /** Where RPC, stream and delivery metrics go; served on /metrics. */
  readonly metrics: Metrics;
  /**
   * The pre-flight of raw disk sources (`createRawDiskPreflight` of libs/preflight). Without it,
   * Compute checks archives itself; main.ts turns it on unless PREFLIGHT=off.
   */
  readonly rawDiskPreflight?: RawDiskPreflight;
  /** Compute, read for GetFamily with the gateway's credentials; without it GetFamily is refused. */
  readonly compute?: ComputeClient;
  /** The operations console's built files (dist/apps/console), served under /console/. Default: none. */
  readonly consoleDir?: string;
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
  const s = options.settings;
  const prefix = s.REDIS_PREFIX;
  const target = redisTarget(s);
  const redisConnectWaitMs = options.redisConnectWaitMs ?? 5000;
  const commands = createRedisClient(target, {
    maxRetriesPerRequest: 1,
    autoPipelining: true,
    commandTimeoutMs: s.REDIS_COMMAND_TIMEOUT_MS,
  });
  // A cluster must answer before the gateway knows how its updates travel.
  if (target.kind === "cluster") await readyOrTimeout([commands], redisConnectWaitMs);
  const pubsub = await agreePubSubMode(commands, s.REDIS_PUBSUB, pubSubModeKey(prefix));
  const subscriber = createSubscriber(target, pubsub);
  watchConnections(
    { commands, subscriber: subscriber.client },
    {
      onError: (name, e) => {
        options.log.warn({ err: e, connection: name }, "redis connection error");
      },
      onChange: () => {
        health.refresh();
      },
    },
  );
  const streamDrain = new StreamDrain();
  const healthWatches = new StreamLimiter(s.MAX_HEALTH_WATCHES);
  const health = createHealth(
    [ImageService.typeName, healthV1.Health.typeName],
    () => commands.status === "ready" && subscriber.client.status === "ready",
    streamDrain,
    () => healthWatches.acquire("grpc.health.v1.Health/Watch"),
  );
  const reflectionStreams = new StreamLimiter(s.MAX_REFLECTION_STREAMS);
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
    retentionMs: s.RECORD_RETENTION_MS,
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
    log: options.log,
    attempts: s.JOB_ATTEMPTS,
    backoffMs: s.JOB_BACKOFF_MS,
    retentionMs: s.RECORD_RETENTION_MS,
    startDelayMs: s.JOB_START_DELAY_MS,
  });
  // Deliveries of a cancel's DONE webhook; the workers send them (they hold the signing secret).
  const webhooks = createWebhookQueue({
    connection: commands,
    prefix,
    retentionMs: s.RECORD_RETENTION_MS,
    attempts: s.WEBHOOK_ATTEMPTS,
    backoffMs: s.WEBHOOK_BACKOFF_MS,
  });
  const auth = options.auth ?? { mode: "none", user: s.DEFAULT_USER };
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
    publicImageProjects: new Set(
      s.AUTH_PUBLIC_IMAGE_PROJECTS.length > 0
        ? s.AUTH_PUBLIC_IMAGE_PROJECTS
        : DEFAULT_PUBLIC_IMAGE_PROJECTS,
    ),
    ...(options.secrets && { secrets: options.secrets }),
    rateLimit: createRateLimiter(commands, prefix, {
      perMinute: s.RATE_LIMIT_CREATE_PER_MINUTE,
      burst: s.RATE_LIMIT_CREATE_BURST,
    }),
    streams: new StreamLimiter(s.MAX_STREAMS_PER_PRINCIPAL),
    drain: streamDrain,
    webhookPolicy: {
      allowedHosts: s.WEBHOOK_ALLOWED_HOSTS,
      allowLocalHttp: s.WEBHOOK_ALLOW_LOCAL_HTTP,
    },
    ...(options.rawDiskPreflight && {
      rawDiskPreflight: counted(options.rawDiskPreflight, options.metrics),
    }),
    familyPolicies: createFamilyPolicies(commands, prefix),
    schedules: createReleaseSchedules(commands, prefix),
    ...(options.compute && { compute: options.compute }),
  });

  const serveConsole =
    options.consoleDir === undefined ? undefined : consoleFiles(options.consoleDir);
  const interceptors = [rpcMetricsInterceptor(options.metrics), errorInterceptor(options.log)];
  const readMaxBytes = s.READ_MAX_BYTES;
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
  const probes = probeHandler({
    metrics: options.metrics,
    ready: () => health.serving(),
    beforeScrape: () => {
      options.metrics.watchStreams.set(bus.stats().watchers);
    },
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
      if (probes(res, path)) return;
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found\n");
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
  // Keep records and retry jobs as every other process of the deployment does. Checked once
  // Redis answers: at start, or when it first comes back.
  if (options.deploymentSettings !== undefined) {
    const agree = () =>
      agreeDeploymentSettings(commands, deploymentSettingsKey(prefix), {
        values: sharedSettings(s),
        mode: s.DEPLOYMENT_SETTINGS,
        by: options.deploymentSettings?.by ?? "gateway",
      });
    if (commands.status === "ready") await agree();
    else
      commands.once("ready", () => {
        agree().catch((e: unknown) => {
          options.log.fatal({ err: e }, e instanceof Error ? e.message : String(e));
          health.drain();
        });
      });
  }
  const listening = await listen(handler, {
    port: s.PORT,
    host: s.HOST,
    ...(options.tls && { tls: options.tls }),
    headerTimeoutMs: s.HEADER_TIMEOUT_MS,
    idleTimeoutMs: s.IDLE_TIMEOUT_MS,
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
      // Calls in flight get half of the shutdown bound to finish; the rest is for closing.
      await listening.close(Math.floor(s.SHUTDOWN_TIMEOUT_MS / 2));
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
