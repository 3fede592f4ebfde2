// The gateway process: ImageService over Connect, gRPC and gRPC-Web on one port.
// Configured only through the environment; see README.md for every variable.
import { envReader } from "@imagesvc/config";
import { readFileSync } from "node:fs";
import { createLogger, createMetrics, setupTracing, type TraceExporter } from "@imagesvc/telemetry";
import { startGateway } from "./gateway";

const log = createLogger("gateway", process.env["LOG_LEVEL"] ?? "info");

async function main(): Promise<void> {
  const env = envReader(process.env);
  const exporter = env.string("OTEL_TRACES_EXPORTER", "none");
  if (!["none", "console", "otlp"].includes(exporter)) {
    throw new Error(`OTEL_TRACES_EXPORTER: "${exporter}" is not one of none, console, otlp`);
  }
  const otlpEndpoint = env.optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  setupTracing({
    exporter: exporter as TraceExporter,
    ...(otlpEndpoint !== undefined && { otlpEndpoint }),
  });
  const certFile = env.optionalString("TLS_CERT_FILE");
  const keyFile = env.optionalString("TLS_KEY_FILE");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new Error(
      "TLS_CERT_FILE and TLS_KEY_FILE: set both to serve TLS, or neither for cleartext",
    );
  }
  const gateway = await startGateway({
    port: env.int("PORT", 8080, { min: 0, max: 65535 }),
    host: env.string("HOST", "0.0.0.0"),
    ...(certFile !== undefined &&
      keyFile !== undefined && {
        tls: { cert: readFileSync(certFile), key: readFileSync(keyFile) },
      }),
    redisUrl: env.string("REDIS_URL", "redis://127.0.0.1:6379"),
    prefix: env.string("REDIS_PREFIX", "imagesvc"),
    retentionMs: env.int("RECORD_RETENTION_MS", 7 * 24 * 3600 * 1000, { min: 1000 }),
    redisCommandTimeoutMs: env.int("REDIS_COMMAND_TIMEOUT_MS", 5000, { min: 1 }),
    readMaxBytes: env.int("READ_MAX_BYTES", 1 << 20, { min: 1024, max: 64 << 20 }),
    jobAttempts: env.int("JOB_ATTEMPTS", 10, { min: 1 }),
    jobBackoffMs: env.int("JOB_BACKOFF_MS", 1000, { min: 0 }),
    defaultUser: env.string("DEFAULT_USER", "anonymous"),
    log,
    metrics: createMetrics("gateway"),
  });
  log.info({ url: gateway.url }, "gateway listening");

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "draining: ending streams with UNAVAILABLE");
    const timer = setTimeout(
      () => {
        log.warn("drain timed out");
        process.exit(1);
      },
      env.int("SHUTDOWN_TIMEOUT_MS", 10_000, { min: 0 }),
    );
    timer.unref();
    gateway.close().then(
      () => {
        log.info("stopped");
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: e }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((e: unknown) => {
  log.fatal({ err: e }, e instanceof Error ? e.message : String(e));
  process.exit(1);
});
