// The worker process: takes CreateImage jobs from Redis and drives them through Compute.
// Configured only through the environment; see the root README for every variable.
import { createComputeClient } from "@imagesvc/compute";
import { ConfigError, envReader } from "@imagesvc/config";
import { createOperationStore } from "@imagesvc/operations";
import {
  createRedisClient,
  describeRedisTarget,
  agreePubSubMode,
  pubSubModeKey,
  pubSubSettingFromEnv,
  redisTargetFromEnv,
  type RedisClient,
} from "@imagesvc/redis";
import { runApp } from "@imagesvc/runtime";
import { loadSecretBox } from "@imagesvc/secrets";
import { createLogger, createMetrics, setupTracing } from "@imagesvc/telemetry";
import { readFileSync } from "node:fs";
import { startAdminServer } from "./admin-server";
import { startWebhookSender, type WebhookSender } from "./webhook-sender";
import { createImageWorker } from "./image-worker";

const env = envReader(process.env);
const log = createLogger("worker", env.string("LOG_LEVEL", "info"));
const shutdownTimeoutMs = env.int("SHUTDOWN_TIMEOUT_MS", 25_000, { min: 0 });

runApp({
  log,
  // The worker's own close is bounded by shutdownTimeoutMs (then forced); leave it room.
  shutdownTimeoutMs: shutdownTimeoutMs + 5000,
  async start({ stopping }) {
    setupTracing({
      exporter: env.string("OTEL_TRACES_EXPORTER", "none"),
      otlpEndpoint: env.optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
    });
    const endpoint = env.optionalString("COMPUTE_ENDPOINT");
    const hasGoogleCredentials =
      env.optionalString("GOOGLE_APPLICATION_CREDENTIALS") !== undefined ||
      env.optionalString("GCE_METADATA_HOST") !== undefined ||
      env.bool("ON_GCE", false);
    if (endpoint === undefined && !hasGoogleCredentials) {
      throw new ConfigError(
        "COMPUTE_ENDPOINT",
        "is not set and no Google credentials are configured. Set COMPUTE_ENDPOINT=https://compute.googleapis.com with GOOGLE_APPLICATION_CREDENTIALS (or ON_GCE=true on Google Cloud), or point it at an emulator for local use",
      );
    }
    const redis = redisTargetFromEnv(process.env);
    const prefix = env.string("REDIS_PREFIX", "imagesvc");

    // BullMQ blocks on its connection, so it needs maxRetriesPerRequest: null; the store's commands time out.
    const bullConnection = createRedisClient(redis, { maxRetriesPerRequest: null });
    const commands = createRedisClient(redis, {
      maxRetriesPerRequest: 3,
      autoPipelining: true,
      commandTimeoutMs: env.int("REDIS_COMMAND_TIMEOUT_MS", 5000, { min: 1 }),
    });
    for (const [name, client] of [
      ["bullmq", bullConnection],
      ["commands", commands],
    ] as const) {
      client.on("error", (e) => {
        log.warn({ err: e, connection: name }, "redis connection error");
      });
    }

    // Publish the way gateways subscribe: the deployment's one recorded mode.
    const pubsub = await agreePubSubMode(
      commands,
      pubSubSettingFromEnv(env.optionalString("REDIS_PUBSUB")),
      pubSubModeKey(prefix),
    );
    const retentionMs = env.int("RECORD_RETENTION_MS", 7 * 24 * 3600 * 1000, { min: 1000 });
    const store = createOperationStore({ redis: commands, pubsub, prefix, retentionMs });
    const metrics = createMetrics("worker");
    const compute = createComputeClient({
      onCall: (call) => {
        metrics.computeCalls.inc({
          method: call.method,
          status: String(call.status),
          reason: call.reason,
        });
        metrics.computeDuration.observe({ method: call.method }, call.durationMs / 1000);
      },
      endpoint: endpoint ?? "https://compute.googleapis.com",
      timeoutMs: env.int("COMPUTE_TIMEOUT_MS", 30_000, { min: 1 }),
      waitTimeoutMs: env.int("COMPUTE_WAIT_TIMEOUT_MS", 150_000, { min: 1 }),
    });
    const secretsKeyFile = env.optionalString("SECRETS_KEY_FILE");
    const webhooks = webhookSender(bullConnection, prefix, retentionMs, metrics);
    const worker = createImageWorker({
      ...(webhooks !== undefined && { webhooks: webhooks.queue }),
      ...(secretsKeyFile !== undefined && { secrets: loadSecretBox(secretsKeyFile) }),
      onOutcome: (outcome) => {
        metrics.jobs.inc({ outcome });
      },
      onUnreadable: () => {
        metrics.sweeperUnreadable.inc();
      },
      connection: bullConnection,
      retentionMs,
      store,
      compute,
      log,
      prefix,
      concurrency: env.int("WORKER_CONCURRENCY", 50, { min: 1, max: 10_000 }),
      lockDurationMs: env.int("JOB_LOCK_MS", 30_000, { min: 500 }),
      maxStalledCount: env.int("JOB_MAX_STALLED", 5, { min: 0 }),
      attempts: env.int("JOB_ATTEMPTS", 10, { min: 1 }),
      backoffMs: env.int("JOB_BACKOFF_MS", 1000, { min: 0 }),
      insertWindowMs: env.int("JOB_MAX_RETRY_MS", 30 * 60_000, { min: 0 }),
      ...settleSettings(),
      sweepIntervalMs: env.int("SWEEP_INTERVAL_MS", 30_000, { min: 100 }),
      sweepGraceMs: env.int("SWEEP_GRACE_MS", 60_000, { min: 0 }),
      retryBackoff: {
        initialMs: env.int("WAIT_RETRY_INITIAL_MS", 500, { min: 1 }),
        maxMs: env.int("WAIT_RETRY_MAX_MS", 30_000, { min: 1 }),
      },
      minWaitIntervalMs: env.int("WAIT_MIN_INTERVAL_MS", 1000, { min: 0 }),
      imagePollMs: env.int("IMAGE_POLL_MS", 10_000, { min: 1 }),
    });
    await worker.worker.waitUntilReady();
    const admin = await startAdminServer({
      port: env.int("ADMIN_PORT", 9464, { min: 0, max: 65535 }),
      host: env.string("ADMIN_HOST", "0.0.0.0"),
      metrics,
      ready: () => !stopping() && worker.worker.isRunning() && bullConnection.status === "ready",
      beforeScrape: async () => {
        const counts = await worker.queue.counts();
        for (const [state, count] of Object.entries(counts))
          metrics.queueJobs.set({ state }, count);
      },
    });
    log.info(
      {
        admin: admin.url,
        redis: describeRedisTarget(redis),
        pubsub,
        computeEndpoint: endpoint ?? "https://compute.googleapis.com",
        concurrency: worker.worker.concurrency,
        webhooks: webhooks !== undefined,
      },
      "worker ready",
    );

    // Draining hands active jobs back to the queue (no attempt spent) for another worker.
    return async () => {
      await worker.close(shutdownTimeoutMs);
      await webhooks?.close();
      await admin.close();
      await Promise.all([bullConnection.quit(), commands.quit()]);
    };
  },
});

/**
 * WEBHOOK_SECRET_FILE (a `whsec_…` secret, Standard Webhooks) turns on webhook deliveries, to the
 * hosts of WEBHOOK_ALLOWED_HOSTS (and plain http to 127.0.0.1 with WEBHOOK_ALLOW_LOCAL_HTTP).
 */
function webhookSender(
  connection: RedisClient,
  prefix: string,
  retentionMs: number,
  metrics: ReturnType<typeof createMetrics>,
): WebhookSender | undefined {
  const secretFile = env.optionalString("WEBHOOK_SECRET_FILE");
  if (secretFile === undefined) return undefined;
  const secret = readFileSync(secretFile, "utf8").trim();
  if (!/^whsec_[A-Za-z0-9+/=]{24,}$/.test(secret))
    throw new ConfigError(
      "WEBHOOK_SECRET_FILE",
      "must hold a Standard Webhooks secret: whsec_ and at least 24 base64 characters (e.g. `echo whsec_$(head -c 32 /dev/urandom | base64)`)",
    );
  return startWebhookSender({
    connection,
    prefix,
    secret,
    policy: {
      allowedHosts: env.list("WEBHOOK_ALLOWED_HOSTS"),
      allowLocalHttp: env.bool("WEBHOOK_ALLOW_LOCAL_HTTP", false),
    },
    log,
    timeoutMs: env.int("WEBHOOK_TIMEOUT_MS", 10_000, { min: 100 }),
    attempts: env.int("WEBHOOK_ATTEMPTS", 10, { min: 1 }),
    backoffMs: env.int("WEBHOOK_BACKOFF_MS", 2000, { min: 0 }),
    retentionMs,
    onOutcome: (outcome) => {
      metrics.webhookDeliveries.inc({ outcome });
    },
  });
}

/**
 * How unanswered inserts and 404s are settled (docs/design.md, "Settling an unanswered insert").
 * The settle period must cover the not-found grace: a 404 inside it proves nothing either way.
 */
function settleSettings() {
  const requestIdMemoryMs = env.int("REQUEST_ID_MEMORY_MS", 60 * 60_000, { min: 0 });
  const settleMs = env.int("INSERT_SETTLE_MS", 5 * 60_000, { min: 0 });
  const notFoundGraceMs = env.int("NOT_FOUND_GRACE_MS", 60_000, { min: 0 });
  if (settleMs < notFoundGraceMs)
    throw new ConfigError(
      "INSERT_SETTLE_MS",
      `is ${settleMs} ms, shorter than NOT_FOUND_GRACE_MS (${notFoundGraceMs} ms): an insert that got no answer must be given at least the grace a 404 gets to become visible. Raise INSERT_SETTLE_MS or lower NOT_FOUND_GRACE_MS`,
    );
  return { requestIdMemoryMs, settleMs, notFoundGraceMs };
}
