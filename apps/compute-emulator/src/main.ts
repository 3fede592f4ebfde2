// The Compute emulator as a process: configured only through the environment (see README.md).
import { checkFaultRule, startComputeEmulator } from "@imagesvc/compute-emulator";
import { ConfigError } from "@imagesvc/config";
import { appStartup } from "@imagesvc/runtime/app";

const { settings, log, run } = appStartup("compute-emulator");

run(async () => {
  const s = settings;
  const faults = s.EMULATOR_FAULTS;
  if (!Array.isArray(faults)) {
    throw new ConfigError(
      "EMULATOR_FAULTS",
      'must be a JSON array of fault rules, e.g. [{"route":"images.insert","effect":"error","status":503,"count":2}]',
    );
  }
  const emulator = await startComputeEmulator({
    port: s.PORT,
    host: s.HOST,
    ...(s.EMULATOR_BASE_URL !== undefined && { baseUrl: s.EMULATOR_BASE_URL }),
    operationDurationMs: s.EMULATOR_OPERATION_DURATION_MS,
    waitCapMs: s.EMULATOR_WAIT_CAP_MS,
    requestIdTtlMs: s.EMULATOR_REQUEST_ID_TTL_MS,
    operationRetentionMs: s.EMULATOR_OPERATION_RETENTION_MS,
    timeScale: s.EMULATOR_TIME_SCALE,
    quotaWritesPerMinute: s.EMULATOR_QUOTA_WRITES_PER_MINUTE,
    quotaReadsPerMinute: s.EMULATOR_QUOTA_READS_PER_MINUTE,
    missingObjectPattern: s.EMULATOR_MISSING_OBJECT_PATTERN,
    unknownObjects: s.EMULATOR_UNKNOWN_OBJECTS,
    seed: s.EMULATOR_SEED,
    ...(s.EMULATOR_MAX_FAILURE_STREAK !== undefined && {
      maxFailureStreak: s.EMULATOR_MAX_FAILURE_STREAK,
    }),
    faults: (faults as unknown[]).map((rule, i) => {
      try {
        return checkFaultRule(rule);
      } catch (e) {
        throw new ConfigError(`EMULATOR_FAULTS[${i}]`, (e as Error).message);
      }
    }),
    staticTokens: s.EMULATOR_STATIC_TOKENS,
    projectId: s.EMULATOR_PROJECT_ID,
    serviceAccountEmail: s.EMULATOR_SERVICE_ACCOUNT,
  });
  log.info(
    { url: emulator.url, metadataHost: emulator.metadataHost },
    "compute emulator listening",
  );
  return () => emulator.close();
});
