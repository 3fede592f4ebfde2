// The gateway process: ImageService over Connect, gRPC and gRPC-Web on one port.
// Configured only through the environment; see the root README for every variable.
import { envReader } from "@imagesvc/config";
import { runApp } from "@imagesvc/runtime";
import { createLogger, createMetrics, setupTracing } from "@imagesvc/telemetry";
import { readFileSync } from "node:fs";
import { startGateway } from "./gateway";

const env = envReader(process.env);
const log = createLogger("gateway", env.string("LOG_LEVEL", "info"));

runApp({
  log,
  shutdownTimeoutMs: env.int("SHUTDOWN_TIMEOUT_MS", 10_000, { min: 0 }),
  async start() {
    setupTracing({
      exporter: env.string("OTEL_TRACES_EXPORTER", "none"),
      otlpEndpoint: env.optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
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
    // Draining ends every stream with UNAVAILABLE, so clients reconnect to another instance.
    return () => gateway.close();
  },
});
