// The gateway process: ImageService over Connect, gRPC and gRPC-Web on one port.
// Configured only through the environment; see the root README for every variable.
import { ConfigError, envReader } from "@imagesvc/config";
import { createRawDiskPreflight, createStorage, type RawDiskPreflight } from "@imagesvc/preflight";
import { pubSubSettingFromEnv, redisTargetFromEnv } from "@imagesvc/redis";
import { runApp } from "@imagesvc/runtime";
import { loadSecretBox } from "@imagesvc/secrets";
import { createLogger, createMetrics, setupTracing } from "@imagesvc/telemetry";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AuthConfig } from "./auth/authenticator";
import { resolveGoogleAccounts } from "./auth/google-accounts";
import { Policy } from "./auth/policy";
import { startGateway } from "./gateway";

const env = envReader(process.env);
const log = createLogger("gateway", env.string("LOG_LEVEL", "info"));
const shutdownTimeoutMs = env.int("SHUTDOWN_TIMEOUT_MS", 10_000, { min: 0 });

runApp({
  log,
  shutdownTimeoutMs,
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
    const auth = authConfig();
    const policy =
      auth.mode === "none"
        ? undefined
        : Policy.load(
            env.required(
              "AUTH_POLICY_FILE",
              "the JSON file granting principals actions in projects (see SECURITY.md)",
            ),
          );
    const secretsKeyFile = env.optionalString("SECRETS_KEY_FILE");
    const gateway = await startGateway({
      port: env.int("PORT", 8080, { min: 0, max: 65535 }),
      host: env.string("HOST", "0.0.0.0"),
      ...(certFile !== undefined &&
        keyFile !== undefined && {
          tls: { cert: readFileSync(certFile), key: readFileSync(keyFile) },
        }),
      redis: redisTargetFromEnv(process.env),
      pubsub: pubSubSettingFromEnv(env.optionalString("REDIS_PUBSUB")),
      ...(secretsKeyFile !== undefined && { secrets: loadSecretBox(secretsKeyFile) }),
      ...(env.optionalString("AUTH_PUBLIC_IMAGE_PROJECTS") !== undefined && {
        publicImageProjects: env.list("AUTH_PUBLIC_IMAGE_PROJECTS"),
      }),
      prefix: env.string("REDIS_PREFIX", "imagesvc"),
      retentionMs: env.int("RECORD_RETENTION_MS", 7 * 24 * 3600 * 1000, { min: 1000 }),
      redisCommandTimeoutMs: env.int("REDIS_COMMAND_TIMEOUT_MS", 5000, { min: 1 }),
      readMaxBytes: env.int("READ_MAX_BYTES", 1 << 20, { min: 1024, max: 64 << 20 }),
      jobAttempts: env.int("JOB_ATTEMPTS", 10, { min: 1 }),
      jobBackoffMs: env.int("JOB_BACKOFF_MS", 1000, { min: 0 }),
      jobStartDelayMs: env.int("JOB_START_DELAY_MS", 0, { min: 0 }),
      defaultUser: env.string("DEFAULT_USER", "anonymous"),
      auth,
      ...(policy !== undefined && { policy }),
      rateLimit: {
        perMinute: env.int("RATE_LIMIT_CREATE_PER_MINUTE", 60, { min: 1 }),
        burst: env.int("RATE_LIMIT_CREATE_BURST", 20, { min: 1 }),
      },
      maxStreamsPerPrincipal: env.int("MAX_STREAMS_PER_PRINCIPAL", 100, { min: 1 }),
      maxHealthWatches: env.int("MAX_HEALTH_WATCHES", 100, { min: 1 }),
      maxReflectionStreams: env.int("MAX_REFLECTION_STREAMS", 100, { min: 1 }),
      headerTimeoutMs: env.int("HEADER_TIMEOUT_MS", 10_000, { min: 100 }),
      idleTimeoutMs: env.int("IDLE_TIMEOUT_MS", 120_000, { min: 100 }),
      // Calls in flight get half of the shutdown bound to finish; the rest is for closing.
      drainGraceMs: Math.floor(shutdownTimeoutMs / 2),
      ...preflightConfig(),
      ...consoleConfig(),
      webhookPolicy: {
        allowedHosts: env.list("WEBHOOK_ALLOWED_HOSTS"),
        allowLocalHttp: env.bool("WEBHOOK_ALLOW_LOCAL_HTTP", false),
      },
      // A cancel queues its DONE webhook with the workers' delivery options.
      webhookAttempts: env.int("WEBHOOK_ATTEMPTS", 10, { min: 1 }),
      webhookBackoffMs: env.int("WEBHOOK_BACKOFF_MS", 2000, { min: 0 }),
      log,
      metrics: createMetrics("gateway"),
    });
    if (auth.mode === "none") {
      log.warn(
        { user: auth.user },
        "AUTH_MODE=none: EVERY CALLER IS TRUSTED AS THE SAME USER AND MAY ACT IN EVERY PROJECT. For local use only; never deploy it.",
      );
    }
    const everyone = policy?.everyoneGrants() ?? [];
    if (auth.mode === "google" && auth.accounts === "any" && everyone.length > 0) {
      log.warn(
        { grants: everyone },
        'AUTH_GOOGLE_ALLOW_ANY_ACCOUNT=true AND THE POLICY GRANTS PRINCIPAL "*": ANY GOOGLE ACCOUNT IN THE WORLD HAS THESE GRANTS. Set AUTH_GOOGLE_DOMAINS to your hosted domains, or grant named principals only.',
      );
    }
    process.on("SIGHUP", () => {
      try {
        gateway.reloadAuth();
        log.info("reloaded the tokens file");
      } catch (e) {
        log.error({ err: e }, "the tokens file is not valid; keeping the previous tokens");
      }
    });
    log.info({ url: gateway.url, authMode: auth.mode }, "gateway listening");
    // Draining ends every stream with UNAVAILABLE, so clients reconnect to another instance.
    return () => gateway.close();
  },
});

/**
 * PREFLIGHT (on by default) and its companions: CreateImage reads each raw disk archive's
 * metadata and first 64 KiB with the gateway's own Google credentials (docs/design.md).
 */
function preflightConfig(): { rawDiskPreflight?: RawDiskPreflight } {
  const mode = env.string("PREFLIGHT", "on");
  if (mode === "off") return {};
  if (mode !== "on")
    throw new ConfigError("PREFLIGHT", `"${mode}" is not on or off (the raw disk pre-flight)`);
  const endpoint = env.optionalString("STORAGE_ENDPOINT");
  const hasGoogleCredentials =
    env.optionalString("GOOGLE_APPLICATION_CREDENTIALS") !== undefined ||
    env.optionalString("GCE_METADATA_HOST") !== undefined ||
    env.bool("ON_GCE", false);
  if (!hasGoogleCredentials) {
    throw new ConfigError(
      "PREFLIGHT",
      "is on (the default) but no Google credentials are configured to read Cloud Storage with. Set GOOGLE_APPLICATION_CREDENTIALS (or ON_GCE=true on Google Cloud), with STORAGE_ENDPOINT for an emulator; or PREFLIGHT=off to leave archives to Compute",
    );
  }
  const storage = createStorage(endpoint === undefined ? {} : { endpoint });
  return {
    rawDiskPreflight: createRawDiskPreflight(storage, {
      timeoutMs: env.int("PREFLIGHT_TIMEOUT_MS", 5000, { min: 100 }),
    }),
  };
}

/** AUTH_MODE and its companions. Required: a deployed gateway never runs open by default. */
function authConfig(): AuthConfig {
  const mode = env.required(
    "AUTH_MODE",
    "tokens (a bearer tokens file), google (Google-signed ID tokens), or none (local use only)",
  );
  switch (mode) {
    case "none":
      return { mode, user: env.string("DEFAULT_USER", "anonymous") };
    case "tokens":
      return {
        mode,
        tokensFile: env.required(
          "AUTH_TOKENS_FILE",
          "the JSON file of bearer tokens (sha256) and their principals",
        ),
      };
    case "google": {
      const certsUrl = env.optionalString("AUTH_CERTS_URL");
      return {
        mode,
        audience: env.required("AUTH_AUDIENCE", "the audience Google ID tokens must be issued for"),
        ...(certsUrl !== undefined && { certsUrl }),
        accounts: resolveGoogleAccounts(
          env.list("AUTH_GOOGLE_DOMAINS"),
          env.bool("AUTH_GOOGLE_ALLOW_ANY_ACCOUNT", false),
        ),
      };
    }
    default:
      throw new Error(`AUTH_MODE: "${mode}" is not one of tokens, google, none`);
  }
}

/**
 * The operations console (apps/console), served under /console/: CONSOLE_DIR, else the build
 * beside this bundle (dist/apps/console), if there is one; CONSOLE_DIR="" turns it off.
 */
function consoleConfig(): { consoleDir?: string } {
  const configured = env.optionalString("CONSOLE_DIR");
  if (configured === "") return {};
  const dir = configured ?? join(dirname(fileURLToPath(import.meta.url)), "..", "console");
  if (!existsSync(join(dir, "index.html"))) {
    if (configured !== undefined)
      throw new ConfigError(
        "CONSOLE_DIR",
        `has no index.html in ${dir}; build it with npx nx build console`,
      );
    return {};
  }
  return { consoleDir: dir };
}
