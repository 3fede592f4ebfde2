// The worker process: takes CreateImage jobs from Redis and drives them through Compute.
// Configured only through the environment; see the root README for every variable.
import { createComputeClient } from "@imagesvc/compute";
import { ConfigError, GOOGLE_COMPUTE_ENDPOINT, sharedSettings } from "@imagesvc/config";
import { createComputeBudget, createOperationStore } from "@imagesvc/operations";
import {
  agreeDeploymentSettings,
  agreePubSubMode,
  createRedisClient,
  deploymentSettingsKey,
  describeRedisTarget,
  pubSubModeKey,
  redisTarget,
  watchConnections,
  type RedisClient,
} from "@imagesvc/redis";
import { appStartup } from "@imagesvc/runtime/app";
import { loadSecretBox } from "@imagesvc/secrets";
import { createMetrics, setupTracing } from "@imagesvc/telemetry";
import { readFileSync } from "node:fs";
import { startAdminServer } from "./admin-server";
import { startWebhookSender, type WebhookSender } from "./webhook-sender";
import { createImageWorker } from "./image-worker";

const { settings, log, run } = appStartup("worker");

run(
  async ({ stopping }) => {
    const s = settings;
    setupTracing({
      exporter: s.OTEL_TRACES_EXPORTER,
      otlpEndpoint: s.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    });
    const endpoint = s.COMPUTE_ENDPOINT ?? GOOGLE_COMPUTE_ENDPOINT;
    const redis = redisTarget(s);
    const prefix = s.REDIS_PREFIX;

    // BullMQ blocks on its connection, so it needs maxRetriesPerRequest: null; the store's commands time out.
    const bullConnection = createRedisClient(redis, { maxRetriesPerRequest: null });
    const commands = createRedisClient(redis, {
      maxRetriesPerRequest: 3,
      autoPipelining: true,
      commandTimeoutMs: s.REDIS_COMMAND_TIMEOUT_MS,
    });
    watchConnections(
      { bullmq: bullConnection, commands },
      {
        onError: (name, e) => {
          log.warn({ err: e, connection: name }, "redis connection error");
        },
      },
    );

    // Publish the way gateways subscribe: the deployment's one recorded mode.
    const pubsub = await agreePubSubMode(commands, s.REDIS_PUBSUB, pubSubModeKey(prefix));
    // Keep records, and retry jobs and deliveries, as every other process of the deployment does.
    await agreeDeploymentSettings(commands, deploymentSettingsKey(prefix), {
      values: sharedSettings(s),
      mode: s.DEPLOYMENT_SETTINGS,
      by: `worker ${process.pid}`,
    });
    const retentionMs = s.RECORD_RETENTION_MS;
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
      endpoint,
      timeoutMs: s.COMPUTE_TIMEOUT_MS,
      waitTimeoutMs: s.COMPUTE_WAIT_TIMEOUT_MS,
      // Compute's rate quotas, one budget per project that every worker shares.
      ...((s.COMPUTE_QUOTA_WRITES_PER_MINUTE > 0 || s.COMPUTE_QUOTA_READS_PER_MINUTE > 0) && {
        quota: createComputeBudget({
          redis: commands,
          prefix,
          writesPerMinute: s.COMPUTE_QUOTA_WRITES_PER_MINUTE,
          readsPerMinute: s.COMPUTE_QUOTA_READS_PER_MINUTE,
        }),
      }),
    });
    // The credentials found now, not on the first CreateImage; a failure is the first call's.
    compute.credentials().catch((e: unknown) => {
      log.warn({ err: e }, "no Compute credentials yet; each call looks for them again");
    });
    const webhooks = webhookSender(bullConnection, prefix, retentionMs, metrics);
    const worker = createImageWorker({
      ...(webhooks !== undefined && {
        webhooks: webhooks.queue,
        releaseCheck: (url, id, data) => webhooks.call(url, id, "release.check", data),
      }),
      ...(s.SECRETS_KEY_FILE !== undefined && { secrets: loadSecretBox(s.SECRETS_KEY_FILE) }),
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
      concurrency: s.WORKER_CONCURRENCY,
      lockDurationMs: s.JOB_LOCK_MS,
      maxStalledCount: s.JOB_MAX_STALLED,
      attempts: s.JOB_ATTEMPTS,
      backoffMs: s.JOB_BACKOFF_MS,
      insertWindowMs: s.JOB_MAX_RETRY_MS,
      requestIdMemoryMs: s.REQUEST_ID_MEMORY_MS,
      settleMs: s.INSERT_SETTLE_MS,
      notFoundGraceMs: s.NOT_FOUND_GRACE_MS,
      sweepIntervalMs: s.SWEEP_INTERVAL_MS,
      sweepGraceMs: s.SWEEP_GRACE_MS,
      retryBackoff: { initialMs: s.WAIT_RETRY_INITIAL_MS, maxMs: s.WAIT_RETRY_MAX_MS },
      minWaitIntervalMs: s.WAIT_MIN_INTERVAL_MS,
      imagePollMs: s.IMAGE_POLL_MS,
      familyClaimMs: s.FAMILY_CLAIM_MS,
      reconcileIntervalMs: s.RECONCILE_INTERVAL_MS,
    });
    await worker.worker.waitUntilReady();
    const admin = await startAdminServer({
      port: s.ADMIN_PORT,
      host: s.ADMIN_HOST,
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
        computeEndpoint: endpoint,
        concurrency: worker.worker.concurrency,
        webhooks: webhooks !== undefined,
      },
      "worker ready",
    );

    // Draining hands active jobs back to the queue (no attempt spent) for another worker.
    return async () => {
      await worker.close(s.SHUTDOWN_TIMEOUT_MS);
      await webhooks?.close();
      await admin.close();
      await Promise.all([bullConnection.quit(), commands.quit()]);
    };
  },
  // The worker's own close is bounded by SHUTDOWN_TIMEOUT_MS (then forced); leave it room.
  { drainRoomMs: 5000 },
);

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
  const secretFile = settings.WEBHOOK_SECRET_FILE;
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
      allowedHosts: settings.WEBHOOK_ALLOWED_HOSTS,
      allowLocalHttp: settings.WEBHOOK_ALLOW_LOCAL_HTTP,
    },
    log,
    timeoutMs: settings.WEBHOOK_TIMEOUT_MS,
    attempts: settings.WEBHOOK_ATTEMPTS,
    backoffMs: settings.WEBHOOK_BACKOFF_MS,
    retentionMs,
    onOutcome: (outcome) => {
      metrics.webhookDeliveries.inc({ outcome });
    },
  });
}
