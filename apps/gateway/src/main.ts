// The gateway process: ImageService over Connect, gRPC and gRPC-Web on one port.
// Configured only through the environment; see the root README for every variable.
import { createComputeClient } from "@imagesvc/compute";
import { ConfigError, GOOGLE_COMPUTE_ENDPOINT } from "@imagesvc/config";
import { createRawDiskPreflight, createStorage, type RawDiskPreflight } from "@imagesvc/preflight";
import { appStartup } from "@imagesvc/runtime/app";
import { loadSecretBox } from "@imagesvc/secrets";
import { createMetrics, setupTracing } from "@imagesvc/telemetry";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Policy,
  resolveGoogleAccounts,
  startGateway,
  type AuthConfig,
} from "@imagesvc/image-service";

const { settings, log, run } = appStartup("gateway");

run(async () => {
  const s = settings;
  setupTracing({
    exporter: s.OTEL_TRACES_EXPORTER,
    otlpEndpoint: s.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
  });
  const auth = authConfig();
  const policy =
    s.AUTH_MODE === "none" || s.AUTH_POLICY_FILE === undefined
      ? undefined
      : Policy.load(s.AUTH_POLICY_FILE);
  const gateway = await startGateway({
    settings: s,
    deploymentSettings: { by: `gateway ${process.pid}` },
    ...(s.TLS_CERT_FILE !== undefined &&
      s.TLS_KEY_FILE !== undefined && {
        tls: { cert: readFileSync(s.TLS_CERT_FILE), key: readFileSync(s.TLS_KEY_FILE) },
      }),
    ...(s.SECRETS_KEY_FILE !== undefined && { secrets: loadSecretBox(s.SECRETS_KEY_FILE) }),
    auth,
    ...(policy !== undefined && { policy }),
    ...preflightConfig(),
    // GetFamily reads Compute with the gateway's own credentials, as the pre-flight reads storage.
    compute: createComputeClient({
      endpoint: s.COMPUTE_ENDPOINT ?? GOOGLE_COMPUTE_ENDPOINT,
      timeoutMs: s.COMPUTE_TIMEOUT_MS,
      waitTimeoutMs: s.COMPUTE_WAIT_TIMEOUT_MS,
    }),
    ...consoleConfig(),
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
});

/**
 * PREFLIGHT (on by default) and its companions: CreateImage reads each raw disk archive's
 * metadata and first 64 KiB with the gateway's own Google credentials (docs/design.md); the
 * settings' rules refuse PREFLIGHT=on without credentials.
 */
function preflightConfig(): { rawDiskPreflight?: RawDiskPreflight } {
  if (settings.PREFLIGHT === "off") return {};
  const endpoint = settings.STORAGE_ENDPOINT;
  const storage = createStorage(endpoint === undefined ? {} : { endpoint });
  return {
    rawDiskPreflight: createRawDiskPreflight(storage, { timeoutMs: settings.PREFLIGHT_TIMEOUT_MS }),
  };
}

/** AUTH_MODE and its companions (required, and checked, by the settings' rules). */
function authConfig(): AuthConfig {
  switch (settings.AUTH_MODE) {
    case "tokens":
      return { mode: "tokens", tokensFile: settings.AUTH_TOKENS_FILE ?? "" };
    case "google":
      return {
        mode: "google",
        audience: settings.AUTH_AUDIENCE ?? "",
        ...(settings.AUTH_CERTS_URL !== undefined && { certsUrl: settings.AUTH_CERTS_URL }),
        accounts: resolveGoogleAccounts(
          settings.AUTH_GOOGLE_DOMAINS,
          settings.AUTH_GOOGLE_ALLOW_ANY_ACCOUNT,
        ),
      };
    default:
      return { mode: "none", user: settings.DEFAULT_USER };
  }
}

/**
 * The operations console (apps/console), served under /console/: CONSOLE_DIR, else the build
 * beside this bundle (dist/apps/console), if there is one; CONSOLE_DIR=off turns it off.
 */
function consoleConfig(): { consoleDir?: string } {
  const configured = settings.CONSOLE_DIR;
  if (configured === "off") return {};
  const dir = configured ?? join(dirname(fileURLToPath(import.meta.url)), "..", "console");
  if (!existsSync(join(dir, "index.html"))) {
    if (configured !== undefined)
      throw new ConfigError(
        "CONSOLE_DIR",
        `has no index.html in ${dir}; build it with npx nx build console, or set CONSOLE_DIR=off`,
      );
    return {};
  }
  return { consoleDir: dir };
}
