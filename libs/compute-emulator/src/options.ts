import { resolveSettings } from "@imagesvc/config";

/** The knobs that can change while the emulator runs (PATCH /admin/config). */
export interface EmulatorConfigPatch {
  /**
   * How long an insert takes from PENDING to DONE, in ms. The first tenth is PENDING, the rest
   * RUNNING with rising progress. 0 makes operations DONE at once (benchmarks).
   */
  readonly operationDurationMs?: number;
  /** The longest `globalOperations.wait` blocks before answering, in ms. Compute's is about 2 minutes. */
  readonly waitCapMs?: number;
  /** How long a requestId is remembered, in ms. Compute documents no figure; other Google APIs say at least 60 minutes. */
  readonly requestIdTtlMs?: number;
  /**
   * How long Compute keeps a finished operation, in ms: after it, `get` and `wait` answer 404 and
   * `list` leaves it out (the image stays). Compute documents no figure.
   */
  readonly operationRetentionMs?: number;
  /**
   * Compresses time: every duration above (operation, wait cap, requestId TTL, retention) is in
   * Compute's time and runs `timeScale` times faster. With 1000, a 45-minute import takes 2.7 s,
   * a 2-minute wait 120 ms and an hour's requestId memory 3.6 s, all in proportion.
   */
  readonly timeScale?: number;
  /**
   * A regular expression tested against the object path (`BUCKET/OBJECT`) of `rawDisk.source`. A
   * match is an object the emulator treats as missing: the insert is accepted, then the operation
   * ends DONE with a 404 error and the image FAILED, as Compute reports it.
   */
  readonly missingObjectPattern?: string;
  /**
   * Compute's per-project rate quotas, in calls per minute of Compute's time (so `timeScale`
   * speeds their refill too): mutating calls (images.insert, images.delete, operation deletes)
   * and reads (get, list, wait). 0 is no limit. A call beyond them gets Compute's 403
   * `rateLimitExceeded` and takes no effect.
   */
  readonly quotaWritesPerMinute?: number;
  readonly quotaReadsPerMinute?: number;
}

/**
 * How the emulator behaves. Every field has a default: the compute-emulator app's setting of
 * the same meaning with nothing set (libs/config's table, `EMULATOR_SEED` for `seed`, …), except
 * `port`, which picks a free one here. See `resolveEmulatorOptions`.
 */
export interface EmulatorOptions extends EmulatorConfigPatch {
  /** TCP port; 0 picks a free one. Default: 0. */
  readonly port?: number;
  /** Interface to listen on. */
  readonly host?: string;
  /**
   * The URL its links (targetLink, selfLink, upload sessions) start with: how clients reach it,
   * e.g. `http://compute-emulator:8085` in Compose. Default: the address it listens on, with
   * 127.0.0.1 for an unspecified address (0.0.0.0, ::), which is not one a client can call.
   */
  readonly baseUrl?: string;
  /**
   * What an object that was never uploaded to the emulator's Cloud Storage is. `valid`: a small
   * valid image archive (a sparse 10 GiB `disk.raw` with an MBR), unless it matches
   * `missingObjectPattern`, so clients that never upload keep working. `missing`: 404, as
   * Cloud Storage says. Uploaded objects are always what was uploaded.
   */
  readonly unknownObjects?: "valid" | "missing";
  /** Seed for the random choices of rate-based faults, so a run can be repeated. */
  readonly seed?: number;
  /** Faults active from the start, as the admin API takes them. */
  readonly faults?: readonly FaultRule[];
  /**
   * The most calls in a row that faults may fail (error or reset) for one target: one requestId
   * of an insert, one operation or image otherwise. The call after the streak goes through.
   * Default: no limit.
   */
  readonly maxFailureStreak?: number;
  /** Bearer tokens accepted besides those the metadata server issues. */
  readonly staticTokens?: readonly string[];
  /** Lifetime of metadata-issued tokens, in seconds. Default: 3599, as on GCE. */
  readonly tokenTtlSeconds?: number;
  /** The service account the metadata server speaks for; it is the `user` of operations. */
  readonly serviceAccountEmail?: string;
  /** What the metadata server reports as the project id. */
  readonly projectId?: string;
}

/** A fault to inject into matching calls. */
export interface FaultRule {
  /**
   * The Compute method it applies to, by its discovery id without the `compute.` prefix
   * (`images.insert`, `images.get`, `images.list`, `images.delete`, `globalOperations.get`,
   * `globalOperations.wait`, `globalOperations.list`, `globalOperations.delete`), or
   * `metadata.token`, or a Cloud Storage call by its HTTP method (`storage.get`, `storage.post`,
   * `storage.put`, `storage.delete`; `before` only), or `*` for every one of them.
   */
  readonly route: string;
  /**
   * `error`: answer with `status` in Compute's error shape. `latency`: delay by `latencyMs`; the
   * call takes effect after the delay even if its client has given up, so an insert slower than
   * the client's timeout lands afterwards. `reset`: destroy the connection without an answer.
   * `waitEarly`: make `wait` answer at once, before DONE, as Compute's best-effort wait may.
   * `notFound`: answer 404 `notFound` for the image or operation the call names, as Compute may
   * right after a write (with `count`: the next N reads of it).
   */
  readonly effect: "error" | "latency" | "reset" | "waitEarly" | "notFound";
  /** For `error`: 429, 403 (reason rateLimitExceeded unless `reason` says otherwise), 500, 503, or any other. */
  readonly status?: number;
  /** For `error`: the `errors[].reason`. Default: Compute's reason for `status`. */
  readonly reason?: string;
  /** For `error`: the message. Default: Compute's message for `status`. */
  readonly message?: string;
  /** For `latency`: how long, in ms. */
  readonly latencyMs?: number;
  /**
   * For `error` and `reset`: `before` fails the call before it takes effect; `after` lets it take
   * effect (an insert creates its image) and then loses the answer. Default: "before".
   */
  readonly phase?: "before" | "after";
  /** Fire on the next `count` matching calls only, then retire. */
  readonly count?: number;
  /** Fire on this share (0-1) of matching calls, drawn from the seeded generator. */
  readonly rate?: number;
}

export interface ResolvedEmulatorOptions {
  readonly port: number;
  readonly host: string;
  readonly baseUrl: string | undefined;
  operationDurationMs: number;
  waitCapMs: number;
  requestIdTtlMs: number;
  operationRetentionMs: number;
  timeScale: number;
  missingObject: RegExp;
  quotaWritesPerMinute: number;
  quotaReadsPerMinute: number;
  readonly unknownObjects: "valid" | "missing";
  readonly seed: number;
  readonly faults: readonly FaultRule[];
  readonly maxFailureStreak: number | undefined;
  readonly staticTokens: readonly string[];
  readonly tokenTtlSeconds: number;
  readonly serviceAccountEmail: string;
  readonly projectId: string;
}

/** The compute-emulator app's settings with nothing set: the emulator's defaults. */
const DEFAULTS = resolveSettings("compute-emulator", {});

/** Fills in defaults and rejects nonsense once, at start. */
export function resolveEmulatorOptions(options: EmulatorOptions = {}): ResolvedEmulatorOptions {
  const resolved: ResolvedEmulatorOptions = {
    port: options.port ?? 0,
    host: options.host ?? DEFAULTS.HOST,
    baseUrl: options.baseUrl?.replace(/\/+$/, ""),
    operationDurationMs: DEFAULTS.EMULATOR_OPERATION_DURATION_MS,
    waitCapMs: DEFAULTS.EMULATOR_WAIT_CAP_MS,
    requestIdTtlMs: DEFAULTS.EMULATOR_REQUEST_ID_TTL_MS,
    operationRetentionMs: DEFAULTS.EMULATOR_OPERATION_RETENTION_MS,
    timeScale: DEFAULTS.EMULATOR_TIME_SCALE,
    missingObject: toRegExp(DEFAULTS.EMULATOR_MISSING_OBJECT_PATTERN),
    quotaWritesPerMinute: DEFAULTS.EMULATOR_QUOTA_WRITES_PER_MINUTE,
    quotaReadsPerMinute: DEFAULTS.EMULATOR_QUOTA_READS_PER_MINUTE,
    unknownObjects: options.unknownObjects ?? DEFAULTS.EMULATOR_UNKNOWN_OBJECTS,
    seed: options.seed ?? DEFAULTS.EMULATOR_SEED,
    faults: (options.faults ?? []).map(checkFaultRule),
    maxFailureStreak: streakLimit(options.maxFailureStreak),
    staticTokens: options.staticTokens ?? DEFAULTS.EMULATOR_STATIC_TOKENS,
    tokenTtlSeconds: nonNegative("tokenTtlSeconds", options.tokenTtlSeconds ?? 3599),
    serviceAccountEmail: options.serviceAccountEmail ?? DEFAULTS.EMULATOR_SERVICE_ACCOUNT,
    projectId: options.projectId ?? DEFAULTS.EMULATOR_PROJECT_ID,
  };
  applyConfigPatch(resolved, options);
  if (resolved.baseUrl !== undefined && !/^https?:\/\/[^/\s]+$/.test(resolved.baseUrl)) {
    throw new RangeError(
      `baseUrl must be http(s)://HOST[:PORT] with no path, e.g. http://compute-emulator:8085; got ${JSON.stringify(options.baseUrl)}`,
    );
  }
  if (!Number.isInteger(resolved.port) || resolved.port < 0 || resolved.port > 65535) {
    throw new RangeError(`port must be 0-65535, got ${String(options.port)}`);
  }
  return resolved;
}

/** Applies a config patch after checking every field; throws a RangeError naming a bad one. */
export function applyConfigPatch(
  target: ResolvedEmulatorOptions,
  patch: EmulatorConfigPatch,
): void {
  const next = {
    operationDurationMs: nonNegative(
      "operationDurationMs",
      patch.operationDurationMs ?? target.operationDurationMs,
    ),
    waitCapMs: nonNegative("waitCapMs", patch.waitCapMs ?? target.waitCapMs),
    requestIdTtlMs: nonNegative("requestIdTtlMs", patch.requestIdTtlMs ?? target.requestIdTtlMs),
    operationRetentionMs: nonNegative(
      "operationRetentionMs",
      patch.operationRetentionMs ?? target.operationRetentionMs,
    ),
    timeScale: positive("timeScale", patch.timeScale ?? target.timeScale),
    quotaWritesPerMinute: nonNegative(
      "quotaWritesPerMinute",
      patch.quotaWritesPerMinute ?? target.quotaWritesPerMinute,
    ),
    quotaReadsPerMinute: nonNegative(
      "quotaReadsPerMinute",
      patch.quotaReadsPerMinute ?? target.quotaReadsPerMinute,
    ),
    missingObject:
      patch.missingObjectPattern === undefined
        ? target.missingObject
        : toRegExp(patch.missingObjectPattern),
  };
  Object.assign(target, next);
}

function toRegExp(pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (e) {
    throw new RangeError(
      `missingObjectPattern is not a regular expression: ${(e as Error).message}`,
    );
  }
}

function streakLimit(value: number | undefined): number | undefined {
  if (value !== undefined && (!Number.isInteger(value) || value < 0))
    throw new RangeError(`maxFailureStreak must be a whole number >= 0, got ${String(value)}`);
  return value;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${name} must be a number > 0, got ${String(value)}`);
  return value;
}

/** A duration in Compute's time as real time, under the time scale. */
export const realMs = (options: ResolvedEmulatorOptions, computeMs: number) =>
  computeMs / options.timeScale;

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw new RangeError(`${name} must be a number >= 0, got ${String(value)}`);
  return value;
}

const EFFECTS = new Set(["error", "latency", "reset", "waitEarly", "notFound"]);

/** Checks a fault rule from JSON or env; throws a RangeError saying what to fix. */
export function checkFaultRule(value: unknown): FaultRule {
  if (typeof value !== "object" || value === null)
    throw new RangeError("a fault rule must be a JSON object");
  const rule = value as Record<string, unknown>;
  if (typeof rule["route"] !== "string" || rule["route"] === "")
    throw new RangeError('fault rule needs "route", e.g. "images.insert" or "*"');
  if (typeof rule["effect"] !== "string" || !EFFECTS.has(rule["effect"])) {
    throw new RangeError(
      'fault rule needs "effect": "error", "latency", "reset", "waitEarly" or "notFound"',
    );
  }
  if (
    rule["effect"] === "error" &&
    (typeof rule["status"] !== "number" || rule["status"] < 400 || rule["status"] > 599)
  ) {
    throw new RangeError('an "error" fault needs "status" between 400 and 599');
  }
  if (
    rule["effect"] === "latency" &&
    (typeof rule["latencyMs"] !== "number" || rule["latencyMs"] < 0)
  ) {
    throw new RangeError('a "latency" fault needs "latencyMs" >= 0');
  }
  if (
    rule["count"] !== undefined &&
    (typeof rule["count"] !== "number" || !Number.isInteger(rule["count"]) || rule["count"] < 1)
  ) {
    throw new RangeError('"count" must be a whole number >= 1');
  }
  if (
    rule["rate"] !== undefined &&
    (typeof rule["rate"] !== "number" || rule["rate"] < 0 || rule["rate"] > 1)
  ) {
    throw new RangeError('"rate" must be between 0 and 1');
  }
  if (rule["phase"] !== undefined && rule["phase"] !== "before" && rule["phase"] !== "after") {
    throw new RangeError('"phase" must be "before" or "after"');
  }
  return rule as unknown as FaultRule;
}
