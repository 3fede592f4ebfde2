// The Compute emulator as a process: configured only through the environment (see README.md).
import { checkFaultRule, startComputeEmulator } from "@imagesvc/compute-emulator";
import { envReader } from "@imagesvc/config";
import { runApp } from "@imagesvc/runtime";
import { createLogger } from "@imagesvc/telemetry";

const env = envReader(process.env);
const log = createLogger("compute-emulator", env.string("LOG_LEVEL", "info"));

runApp({
  log,
  async start() {
    const faults = env.json("EMULATOR_FAULTS") ?? [];
    if (!Array.isArray(faults)) {
      throw new Error(
        'EMULATOR_FAULTS: must be a JSON array of fault rules, e.g. [{"route":"images.insert","effect":"error","status":503,"count":2}]',
      );
    }
    const emulator = await startComputeEmulator({
      port: env.int("PORT", 8085, { min: 0, max: 65535 }),
      host: env.string("HOST", "127.0.0.1"),
      ...(env.optionalString("EMULATOR_BASE_URL") !== undefined && {
        baseUrl: env.string("EMULATOR_BASE_URL", ""),
      }),
      operationDurationMs: env.int("EMULATOR_OPERATION_DURATION_MS", 3000, { min: 0 }),
      waitCapMs: env.int("EMULATOR_WAIT_CAP_MS", 120_000, { min: 0 }),
      requestIdTtlMs: env.int("EMULATOR_REQUEST_ID_TTL_MS", 3_600_000, { min: 0 }),
      operationRetentionMs: env.int("EMULATOR_OPERATION_RETENTION_MS", 86_400_000, { min: 0 }),
      timeScale: env.int("EMULATOR_TIME_SCALE", 1, { min: 1 }),
      missingObjectPattern: env.string("EMULATOR_MISSING_OBJECT_PATTERN", "(^|/)missing[^/]*$"),
      unknownObjects: unknownObjects(env.string("EMULATOR_UNKNOWN_OBJECTS", "valid")),
      seed: env.int("EMULATOR_SEED", 1),
      ...(env.optionalString("EMULATOR_MAX_FAILURE_STREAK") !== undefined && {
        maxFailureStreak: env.int("EMULATOR_MAX_FAILURE_STREAK", 0, { min: 0 }),
      }),
      faults: faults.map((rule, i) => {
        try {
          return checkFaultRule(rule);
        } catch (e) {
          throw new Error(`EMULATOR_FAULTS[${i}]: ${(e as Error).message}`);
        }
      }),
      staticTokens: env.list("EMULATOR_STATIC_TOKENS"),
      projectId: env.string("EMULATOR_PROJECT_ID", "emulator-project"),
      serviceAccountEmail: env.string(
        "EMULATOR_SERVICE_ACCOUNT",
        "emulator@emulator-project.iam.gserviceaccount.com",
      ),
    });
    log.info(
      { url: emulator.url, metadataHost: emulator.metadataHost },
      "compute emulator listening",
    );
    return () => emulator.close();
  },
});

function unknownObjects(value: string): "valid" | "missing" {
  if (value === "valid" || value === "missing") return value;
  throw new Error(
    `EMULATOR_UNKNOWN_OBJECTS: "${value}" is not valid or missing (what an object never uploaded is)`,
  );
}
