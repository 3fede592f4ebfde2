import { ConfigError } from "./errors";
import type { ResolvedSettings } from "./resolved-settings";
import type { AppName } from "./setting";

/** A rule that ties settings of one app together: it throws a ConfigError when they contradict. */
export interface Rule {
  readonly app: AppName;
  check(settings: Readonly<Record<string, unknown>>): void;
}

function rule<A extends AppName>(app: A, check: (s: ResolvedSettings<A>) => void): Rule {
  return {
    app,
    check: (s) => {
      check(s as ResolvedSettings<A>);
    },
  };
}

/** Whether google-auth-library has credentials to find: a key file, a metadata server, or GCE. */
const hasGoogleCredentials = (s: {
  readonly GOOGLE_APPLICATION_CREDENTIALS: string | undefined;
  readonly GCE_METADATA_HOST: string | undefined;
}) => s.GOOGLE_APPLICATION_CREDENTIALS !== undefined || s.GCE_METADATA_HOST !== undefined;

/**
 * What cannot hold together, refused in one place at start (as Temporal's `compileWorkerOptions`
 * does): a required companion missing, or two values that contradict each other.
 */
export const RULES: readonly Rule[] = [
  rule("gateway", (s) => {
    if (s.AUTH_MODE === undefined)
      throw new ConfigError(
        "AUTH_MODE",
        "is required: tokens (a bearer tokens file), google (Google-signed ID tokens), or none (local use only)",
      );
    if (s.AUTH_MODE === "tokens" && s.AUTH_TOKENS_FILE === undefined)
      throw new ConfigError(
        "AUTH_TOKENS_FILE",
        "is required with AUTH_MODE=tokens: the JSON file of bearer tokens (sha256) and their principals",
      );
    if (s.AUTH_MODE === "google" && s.AUTH_AUDIENCE === undefined)
      throw new ConfigError(
        "AUTH_AUDIENCE",
        "is required with AUTH_MODE=google: the audience Google ID tokens must be issued for",
      );
    if (s.AUTH_MODE !== "none" && s.AUTH_POLICY_FILE === undefined)
      throw new ConfigError(
        "AUTH_POLICY_FILE",
        `is required with AUTH_MODE=${s.AUTH_MODE}: the JSON file granting principals actions in projects (see SECURITY.md)`,
      );
    if ((s.TLS_CERT_FILE === undefined) !== (s.TLS_KEY_FILE === undefined))
      throw new ConfigError(
        s.TLS_CERT_FILE === undefined ? "TLS_CERT_FILE" : "TLS_KEY_FILE",
        "is required with the other: set both TLS_CERT_FILE and TLS_KEY_FILE to serve TLS, or neither",
      );
    if (s.PREFLIGHT === "on" && !hasGoogleCredentials(s) && !s.ON_GCE)
      throw new ConfigError(
        "PREFLIGHT",
        "is on (the default) but no Google credentials are configured to read Cloud Storage with. Set GOOGLE_APPLICATION_CREDENTIALS (or ON_GCE=true on Google Cloud), with STORAGE_ENDPOINT for an emulator; or PREFLIGHT=off to leave archives to Compute",
      );
  }),
  rule("worker", (s) => {
    if (s.COMPUTE_ENDPOINT === undefined && !hasGoogleCredentials(s) && !s.ON_GCE)
      throw new ConfigError(
        "COMPUTE_ENDPOINT",
        "is not set and no Google credentials are configured. Set COMPUTE_ENDPOINT=https://compute.googleapis.com with GOOGLE_APPLICATION_CREDENTIALS (or ON_GCE=true on Google Cloud), or point it at an emulator for local use",
      );
    if (s.INSERT_SETTLE_MS < s.NOT_FOUND_GRACE_MS)
      throw new ConfigError(
        "INSERT_SETTLE_MS",
        `is ${s.INSERT_SETTLE_MS} ms, shorter than NOT_FOUND_GRACE_MS (${s.NOT_FOUND_GRACE_MS} ms): an insert that got no answer must be given at least the grace a 404 gets to become visible. Raise INSERT_SETTLE_MS or lower NOT_FOUND_GRACE_MS`,
      );
    if (s.WAIT_RETRY_MAX_MS < s.WAIT_RETRY_INITIAL_MS)
      throw new ConfigError(
        "WAIT_RETRY_MAX_MS",
        `is ${s.WAIT_RETRY_MAX_MS} ms, below WAIT_RETRY_INITIAL_MS (${s.WAIT_RETRY_INITIAL_MS} ms): the backoff's cap must be at least its first delay`,
      );
  }),
];
