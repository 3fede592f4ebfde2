import type { Setting } from "./setting";

const DAY = 24 * 3600_000;

/** Compute's own API: where the worker goes when COMPUTE_ENDPOINT is unset. */
export const GOOGLE_COMPUTE_ENDPOINT = "https://compute.googleapis.com";
const MINUTE = 60_000;

/**
 * Every setting of every app, once: its variable, the apps that read it, its type, default,
 * range and one line of doc. Apps resolve their part at start (`resolveSettings`); libraries take
 * the values as required options and keep no defaults of their own; the README's configuration
 * table is generated from this (`settingsTable`, checked by a spec). The rules that tie settings
 * to each other are in rules.ts.
 */
export const SETTINGS = {
  // Serving and processes.
  PORT: {
    type: "int",
    apps: ["gateway", "compute-emulator"],
    default: { gateway: 8080, "compute-emulator": 8085 },
    min: 0,
    max: 65535,
    doc: "the port for every protocol",
  },
  HOST: {
    type: "string",
    apps: ["gateway", "compute-emulator"],
    default: { gateway: "0.0.0.0", "compute-emulator": "127.0.0.1" },
    doc: "interface",
  },
  SHUTDOWN_TIMEOUT_MS: {
    type: "int",
    apps: ["gateway", "worker", "compute-emulator"],
    default: { gateway: 10_000, worker: 25_000, "compute-emulator": 10_000 },
    min: 0,
    doc: "drain bound on SIGTERM",
  },
  LOG_LEVEL: {
    type: "string",
    apps: ["gateway", "worker", "compute-emulator"],
    default: "info",
    oneOf: ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
    doc: "pino level",
  },
  OTEL_TRACES_EXPORTER: {
    type: "string",
    apps: ["gateway", "worker"],
    default: "none",
    oneOf: ["none", "console", "otlp"],
    doc: "`none`, `console` or `otlp`; trace context flows either way",
  },
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: {
    type: "string",
    apps: ["gateway", "worker"],
    shown: "the OTLP default",
    doc: "where `otlp` sends spans",
  },

  // Redis: one deployment's gateways and workers must agree on these (see rules.ts).
  REDIS_URL: {
    type: "string",
    apps: ["gateway", "worker"],
    default: "redis://127.0.0.1:6379",
    doc: "Redis (queue, records, pub/sub); `redis+cluster://h:p,h:p` for a Redis Cluster",
  },
  REDIS_CLUSTER_NODES: {
    type: "list",
    apps: ["gateway", "worker"],
    shown: "unset",
    doc: "seed nodes of a Redis Cluster, `host:port,...`; takes precedence over `REDIS_URL`",
  },
  REDIS_PREFIX: {
    type: "string",
    apps: ["gateway", "worker"],
    default: "imagesvc",
    doc: "key prefix; gateways and workers of one deployment must agree",
  },
  REDIS_COMMAND_TIMEOUT_MS: {
    type: "int",
    apps: ["gateway", "worker"],
    default: 5000,
    min: 1,
    doc: "timeout of each Redis command",
  },
  REDIS_PUBSUB: {
    type: "string",
    apps: ["gateway", "worker"],
    default: "auto",
    oneOf: ["auto", "classic", "sharded"],
    doc: "`classic`, `sharded` or `auto`; the first process records the deployment's mode at `PREFIX:pubsub-mode` and every later one uses it",
  },
  RECORD_RETENTION_MS: {
    type: "int",
    apps: ["gateway", "worker"],
    default: 7 * DAY,
    shown: "604800000 (7 days)",
    min: 1000,
    doc: "how long operations are kept after their last change; finished jobs are kept no longer",
  },
  JOB_ATTEMPTS: {
    type: "int",
    apps: ["gateway", "worker"],
    default: 10,
    min: 1,
    doc: "BullMQ's attempts of a job that failed on something other than Compute (Redis down, say); Compute's errors are the lifecycle's to retry",
  },
  JOB_BACKOFF_MS: {
    type: "int",
    apps: ["gateway", "worker"],
    default: 1000,
    min: 0,
    doc: "the first retry delay of such a job (doubling, with jitter)",
  },
  DEPLOYMENT_SETTINGS: {
    type: "string",
    apps: ["gateway", "worker"],
    default: "check",
    oneOf: ["check", "replace"],
    doc: "`check`: refuse to start when the prefix's shared settings (retention, job attempts and backoff) differ from the deployment's, recorded at `PREFIX:settings`; `replace`: record this process's, for a rollout that changes them",
  },

  // The gateway.
  JOB_START_DELAY_MS: {
    type: "int",
    apps: ["gateway"],
    default: 0,
    min: 0,
    doc: "hold each new job this long before a worker may take it: a window to cancel in (demos, `npm start`)",
  },
  TLS_CERT_FILE: {
    type: "string",
    apps: ["gateway"],
    doc: "PEM file; set it and `TLS_KEY_FILE` to serve TLS (ALPN picks HTTP/2 or 1.1)",
  },
  TLS_KEY_FILE: { type: "string", apps: ["gateway"], doc: "the PEM key of `TLS_CERT_FILE`" },
  READ_MAX_BYTES: {
    type: "int",
    apps: ["gateway"],
    default: 1 << 20,
    min: 1024,
    max: 64 << 20,
    doc: "largest request message",
  },
  AUTH_MODE: {
    type: "string",
    apps: ["gateway"],
    oneOf: ["tokens", "google", "none"],
    shown: "required",
    doc: "`tokens`, `google` or `none` (local use only; see [SECURITY.md](SECURITY.md))",
  },
  AUTH_TOKENS_FILE: {
    type: "string",
    apps: ["gateway"],
    doc: "bearer tokens (SHA-256) and their principals, for `tokens`; reloaded on SIGHUP",
  },
  AUTH_AUDIENCE: {
    type: "string",
    apps: ["gateway"],
    doc: "the audience Google ID tokens must be issued for, for `google`",
  },
  AUTH_CERTS_URL: {
    type: "url",
    apps: ["gateway"],
    shown: "Google's",
    doc: "where Google's ID token signing certificates are fetched from, for `google`",
  },
  AUTH_GOOGLE_DOMAINS: {
    type: "list",
    apps: ["gateway"],
    shown: "—",
    doc: "for `google`, this or the next is required: the hosted domains (the ID token's `hd`) and service-account domains (`PROJECT.iam.gserviceaccount.com`) whose accounts may call (see [SECURITY.md](SECURITY.md))",
  },
  AUTH_GOOGLE_ALLOW_ANY_ACCOUNT: {
    type: "bool",
    apps: ["gateway"],
    default: false,
    doc: "for `google`: accept every Google account, knowingly",
  },
  AUTH_POLICY_FILE: {
    type: "string",
    apps: ["gateway"],
    doc: "grants of `create`, `read`, `cancel`, `use` per project, and `buckets`; required unless `none`",
  },
  AUTH_PUBLIC_IMAGE_PROJECTS: {
    type: "list",
    apps: ["gateway"],
    shown: "Google's public image projects",
    doc: "projects whose images (`source_image`) and licenses anyone may name without a `use` grant (see [SECURITY.md](SECURITY.md))",
  },
  DEFAULT_USER: {
    type: "string",
    apps: ["gateway"],
    default: "anonymous",
    doc: "the principal of every caller with `AUTH_MODE=none`",
  },
  RATE_LIMIT_CREATE_PER_MINUTE: {
    type: "int",
    apps: ["gateway"],
    default: 60,
    min: 1,
    doc: "CreateImage per principal per minute, shared by replicas",
  },
  RATE_LIMIT_CREATE_BURST: {
    type: "int",
    apps: ["gateway"],
    default: 20,
    min: 1,
    doc: "CreateImage burst per principal",
  },
  MAX_STREAMS_PER_PRINCIPAL: {
    type: "int",
    apps: ["gateway"],
    default: 100,
    min: 1,
    doc: "open Watch/Wait streams per principal per gateway",
  },
  MAX_HEALTH_WATCHES: {
    type: "int",
    apps: ["gateway"],
    default: 100,
    min: 1,
    doc: "open `grpc.health.v1.Health/Watch` streams per gateway, from anyone",
  },
  MAX_REFLECTION_STREAMS: {
    type: "int",
    apps: ["gateway"],
    default: 100,
    min: 1,
    doc: "open reflection streams (v1 and v1alpha) per gateway, from all callers (they need credentials where auth is on)",
  },
  HEADER_TIMEOUT_MS: {
    type: "int",
    apps: ["gateway"],
    default: 10_000,
    min: 100,
    doc: "a connection's first bytes (and an HTTP/1.1 request's header) must come within this",
  },
  IDLE_TIMEOUT_MS: {
    type: "int",
    apps: ["gateway"],
    default: 120_000,
    min: 100,
    doc: "a connection with no open stream is closed after this",
  },
  PREFLIGHT: {
    type: "string",
    apps: ["gateway"],
    default: "on",
    oneOf: ["on", "off"],
    doc: "the raw disk pre-flight at CreateImage (see [Import a disk file](#import-a-disk-file)); `off` leaves archives to Compute",
  },
  PREFLIGHT_TIMEOUT_MS: {
    type: "int",
    apps: ["gateway"],
    default: 5000,
    min: 100,
    doc: "the pre-flight's bound; past it the request is accepted with a `PREFLIGHT_UNCHECKED` warning",
  },
  STORAGE_ENDPOINT: {
    type: "url",
    apps: ["gateway"],
    shown: "Google's",
    doc: "Cloud Storage's JSON API endpoint, for an emulator; the pre-flight reads with the gateway's Google credentials, which it needs while `PREFLIGHT=on`",
  },
  CONSOLE_DIR: {
    type: "string",
    apps: ["gateway"],
    shown: "`../console` beside its bundle, if built",
    doc: "the operations console's files, served under `/console/`; `off` turns it off",
  },

  // Webhooks.
  WEBHOOK_ALLOWED_HOSTS: {
    type: "list",
    apps: ["gateway", "worker"],
    shown: "none",
    doc: "the hosts webhooks may call (`hooks.example.com`, `*.example.com`)",
  },
  WEBHOOK_ALLOW_LOCAL_HTTP: {
    type: "bool",
    apps: ["gateway", "worker"],
    default: false,
    doc: "plain http to 127.0.0.1, for local use",
  },
  WEBHOOK_SECRET_FILE: {
    type: "string",
    apps: ["worker"],
    doc: "the Standard Webhooks signing secret (`whsec_…`); without it a worker refuses jobs that ask for a webhook",
  },
  WEBHOOK_TIMEOUT_MS: {
    type: "int",
    apps: ["worker"],
    default: 10_000,
    min: 100,
    doc: "per-attempt bound of a delivery",
  },
  WEBHOOK_ATTEMPTS: {
    type: "int",
    apps: ["gateway", "worker"],
    default: 10,
    min: 1,
    doc: "attempts of a delivery (the gateway queues a cancelled operation's DONE with them)",
  },
  WEBHOOK_BACKOFF_MS: {
    type: "int",
    apps: ["gateway", "worker"],
    default: 2000,
    min: 0,
    doc: "first retry delay of a delivery, doubling",
  },

  // Secrets.
  SECRETS_KEY_FILE: {
    type: "string",
    apps: ["gateway", "worker"],
    doc: "a 32-byte key (base64 or hex) that seals customer-supplied encryption keys in Redis; without it such requests are refused",
  },

  // Compute, and the worker's lifecycle.
  COMPUTE_ENDPOINT: {
    type: "url",
    apps: ["gateway", "worker"],
    shown: GOOGLE_COMPUTE_ENDPOINT,
    doc: "Compute's base URL; required by the worker unless Google credentials are configured (the gateway reads families with it, for GetFamily)",
  },
  GOOGLE_APPLICATION_CREDENTIALS: {
    type: "string",
    apps: ["gateway", "worker"],
    doc: "Google's own meaning (google-auth-library)",
  },
  GCE_METADATA_HOST: {
    type: "string",
    apps: ["gateway", "worker"],
    doc: "Google's own meaning (google-auth-library): the metadata server's `host:port`",
  },
  ON_GCE: {
    type: "bool",
    apps: ["gateway", "worker"],
    default: false,
    doc: "running on Google Cloud: credentials from the metadata server",
  },
  COMPUTE_QUOTA_WRITES_PER_MINUTE: {
    type: "int",
    apps: ["worker"],
    default: 0,
    min: 0,
    doc: "the project's Compute quota of mutating calls per minute, shared by every worker through Redis; 0 for no pacing (each call goes at once, and refusals are retried)",
  },
  COMPUTE_QUOTA_READS_PER_MINUTE: {
    type: "int",
    apps: ["worker"],
    default: 0,
    min: 0,
    doc: "the same for Compute's read calls (operation get and wait, images.get)",
  },
  COMPUTE_TIMEOUT_MS: {
    type: "int",
    apps: ["gateway", "worker"],
    default: 30_000,
    min: 1,
    doc: "timeout of each Compute call but `wait`",
  },
  COMPUTE_WAIT_TIMEOUT_MS: {
    type: "int",
    apps: ["gateway", "worker"],
    default: 150_000,
    min: 1,
    doc: "timeout of a `wait` call (Compute's wait lasts up to about 2 minutes)",
  },
  WORKER_CONCURRENCY: {
    type: "int",
    apps: ["worker"],
    default: 50,
    min: 1,
    max: 10_000,
    doc: "jobs in flight; they mostly wait on Compute",
  },
  JOB_MAX_RETRY_MS: {
    type: "int",
    apps: ["worker"],
    default: 30 * MINUTE,
    min: 0,
    doc: "the insert window: inserts are retried this long after the first was sent; an accepted insert is followed to Compute's DONE however long it takes",
  },
  REQUEST_ID_MEMORY_MS: {
    type: "int",
    apps: ["worker"],
    default: 60 * MINUTE,
    shown: "3600000 (60 min)",
    min: 0,
    doc: "how long Compute is taken to remember a requestId, from the first insert: past the insert window, an insert whose answer never came is proved by another insert with the same requestId within it (Compute documents no figure; other Google APIs say at least 60 minutes; a longer figure costs nothing)",
  },
  INSERT_SETTLE_MS: {
    type: "int",
    apps: ["worker"],
    default: 5 * MINUTE,
    shown: "300000 (5 min)",
    min: 0,
    doc: "past the requestId memory, no image proves an unanswered insert never took effect only this long after the last such attempt; at least `NOT_FOUND_GRACE_MS`",
  },
  NOT_FOUND_GRACE_MS: {
    type: "int",
    apps: ["worker"],
    default: MINUTE,
    min: 0,
    doc: "a 404 from `wait` or `images.get` counts only once 404s have lasted this long (right after a write Compute may not show the resource yet)",
  },
  JOB_LOCK_MS: {
    type: "int",
    apps: ["worker"],
    default: 30_000,
    min: 500,
    doc: "a job's lock; a dead worker's job is re-run after it expires, and a worker that cannot renew it stops the job",
  },
  JOB_MAX_STALLED: {
    type: "int",
    apps: ["worker"],
    default: 5,
    min: 0,
    doc: "times a job may stall (its worker died) before it fails; the sweeper queues it again",
  },
  WAIT_RETRY_INITIAL_MS: {
    type: "int",
    apps: ["worker"],
    default: 500,
    min: 1,
    doc: "the first backoff between retries of any Compute call (doubling, jittered)",
  },
  WAIT_RETRY_MAX_MS: {
    type: "int",
    apps: ["worker"],
    default: 30_000,
    min: 1,
    doc: "the backoff's cap: no failing call is repeated faster",
  },
  WAIT_MIN_INTERVAL_MS: {
    type: "int",
    apps: ["worker"],
    default: 1000,
    min: 0,
    doc: "a `wait` that answers sooner without DONE is followed by a pause for the rest",
  },
  IMAGE_POLL_MS: {
    type: "int",
    apps: ["worker"],
    default: 10_000,
    min: 1,
    doc: "how often the image is polled once Compute has forgotten its operation",
  },
  SWEEP_INTERVAL_MS: {
    type: "int",
    apps: ["worker"],
    default: 30_000,
    min: 100,
    doc: "pause between sweeps, which re-queue lost and finished-but-open jobs (a sweep never ends an operation)",
  },
  RECONCILE_INTERVAL_MS: {
    type: "int",
    apps: ["worker"],
    default: 30_000,
    min: 100,
    doc: "pause between the reconciler's passes, which start scheduled deprecations and retention: a step is enacted within this (plus the queue's wait) of its time",
  },
  FAMILY_CLAIM_MS: {
    type: "int",
    apps: ["worker"],
    default: 120_000,
    min: 1000,
    doc: "how long a release holds its image family without a step before another release may take it (a worker that died mid-release)",
  },
  SWEEP_GRACE_MS: {
    type: "int",
    apps: ["worker"],
    default: 60_000,
    min: 0,
    doc: "operations younger than this are left alone by the sweeper: their job may be on its way",
  },
  ADMIN_PORT: {
    type: "int",
    apps: ["worker"],
    default: 9464,
    min: 0,
    max: 65535,
    doc: "the worker's `/healthz`, `/readyz`, `/metrics`",
  },
  ADMIN_HOST: {
    type: "string",
    apps: ["worker"],
    default: "0.0.0.0",
    doc: "interface of the admin port",
  },

  // The Compute emulator.
  EMULATOR_BASE_URL: {
    type: "url",
    apps: ["compute-emulator"],
    shown: "the address it listens on",
    doc: "the URL its links start with: how clients reach it (`http://compute-emulator:8085` in Compose)",
  },
  EMULATOR_OPERATION_DURATION_MS: {
    type: "int",
    apps: ["compute-emulator"],
    default: 3000,
    min: 0,
    doc: "how long an insert takes, PENDING to DONE, in Compute's time",
  },
  EMULATOR_WAIT_CAP_MS: {
    type: "int",
    apps: ["compute-emulator"],
    default: 120_000,
    min: 0,
    doc: "the longest `wait` blocks, in Compute's time",
  },
  EMULATOR_REQUEST_ID_TTL_MS: {
    type: "int",
    apps: ["compute-emulator"],
    default: 3_600_000,
    min: 0,
    doc: "how long a requestId is remembered, in Compute's time",
  },
  EMULATOR_OPERATION_RETENTION_MS: {
    type: "int",
    apps: ["compute-emulator"],
    default: DAY,
    min: 0,
    doc: "how long a finished operation is kept, in Compute's time",
  },
  EMULATOR_TIME_SCALE: {
    type: "int",
    apps: ["compute-emulator"],
    default: 1,
    min: 1,
    doc: "how many times faster than Compute's time every duration above runs",
  },
  EMULATOR_QUOTA_WRITES_PER_MINUTE: {
    type: "int",
    apps: ["compute-emulator"],
    default: 0,
    min: 0,
    doc: "Compute's mutating-call quota per project per minute of Compute's time (inserts, deletes); 0 for none. Out of it, calls get 403 `rateLimitExceeded`",
  },
  EMULATOR_QUOTA_READS_PER_MINUTE: {
    type: "int",
    apps: ["compute-emulator"],
    default: 0,
    min: 0,
    doc: "Compute's read-call quota per project per minute of Compute's time (get, list, wait); 0 for none",
  },
  EMULATOR_MISSING_OBJECT_PATTERN: {
    type: "string",
    apps: ["compute-emulator"],
    default: "(^|/)missing[^/]*$",
    doc: "a regular expression over `BUCKET/OBJECT`: a match is an archive Compute cannot read",
  },
  EMULATOR_UNKNOWN_OBJECTS: {
    type: "string",
    apps: ["compute-emulator"],
    default: "valid",
    oneOf: ["valid", "missing"],
    doc: "what an object never uploaded is: a small valid archive, or missing",
  },
  EMULATOR_SEED: {
    type: "int",
    apps: ["compute-emulator"],
    default: 1,
    doc: "seed of rate-based faults",
  },
  EMULATOR_FAULTS: {
    type: "json",
    apps: ["compute-emulator"],
    default: [],
    shown: "none",
    doc: "fault rules active from the start, a JSON array (see [libs/compute-emulator](libs/compute-emulator/README.md))",
  },
  EMULATOR_MAX_FAILURE_STREAK: {
    type: "int",
    apps: ["compute-emulator"],
    min: 0,
    shown: "no limit",
    doc: "the most calls in a row faults may fail for one target",
  },
  EMULATOR_STATIC_TOKENS: {
    type: "list",
    apps: ["compute-emulator"],
    shown: "none",
    doc: "bearer tokens accepted besides those its metadata server issues",
  },
  EMULATOR_PROJECT_ID: {
    type: "string",
    apps: ["compute-emulator"],
    default: "emulator-project",
    doc: "the project id its metadata server reports",
  },
  EMULATOR_SERVICE_ACCOUNT: {
    type: "string",
    apps: ["compute-emulator"],
    default: "emulator@emulator-project.iam.gserviceaccount.com",
    doc: "the service account its metadata server speaks for",
  },

  // Read by the CLI's flags and by `npm start`, listed so the table is whole.
  IMAGES_GATEWAY: {
    type: "external",
    apps: ["cli"],
    shown: "http://127.0.0.1:8080",
    doc: "`--gateway`",
  },
  IMAGES_PROJECT: { type: "external", apps: ["cli"], doc: "`--project`" },
  IMAGES_TOKEN: { type: "external", apps: ["cli"], doc: "`--token`" },
  IMAGES_BUCKET: { type: "external", apps: ["cli"], doc: "`images import`'s `--bucket`" },
  IMAGES_STORAGE_ENDPOINT: {
    type: "external",
    apps: ["cli"],
    shown: "Google's",
    doc: "`images import`'s `--storage-endpoint`",
  },
  XDG_CACHE_HOME: {
    type: "external",
    apps: ["cli"],
    shown: "`~/.cache`",
    doc: "where an import keeps what resumes it",
  },
  EMULATOR_PORT: {
    type: "external",
    apps: ["npm start"],
    shown: "a free port",
    doc: "the local stack's emulator port (it also passes `REDIS_URL`, `PORT`, `EMULATOR_OPERATION_DURATION_MS` (8000) and `EMULATOR_WAIT_CAP_MS` (1000) on)",
  },
  START_VERBOSE: {
    type: "external",
    apps: ["npm start"],
    shown: "off",
    doc: "the local stack prints every process's log lines",
  },
} as const satisfies Record<string, Setting>;

export type Settings = typeof SETTINGS;
export type SettingName = keyof Settings;

/**
 * The settings every gateway and worker of one deployment must share, held to each other in
 * Redis at start (libs/redis's agreeDeploymentSettings): records kept for different times, or
 * jobs and deliveries retried differently, would each be a quiet bug. The prefix names the
 * deployment itself, and the pub/sub mode has its own agreement.
 */
export const SHARED_SETTINGS = [
  "RECORD_RETENTION_MS",
  "JOB_ATTEMPTS",
  "JOB_BACKOFF_MS",
  "WEBHOOK_ATTEMPTS",
  "WEBHOOK_BACKOFF_MS",
] as const satisfies readonly SettingName[];

/** The shared settings' values, by name. */
export function sharedSettings(settings: {
  readonly [K in (typeof SHARED_SETTINGS)[number]]: number;
}): Record<string, number> {
  return Object.fromEntries(SHARED_SETTINGS.map((name) => [name, settings[name]]));
}
