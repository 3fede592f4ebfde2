import { resolveSettings, type AppName, type Env, type ResolvedSettings } from "@imagesvc/config";
import { createLogger } from "@imagesvc/telemetry";
import type { Logger } from "pino";
import { settingsOrExit } from "./run-app";

/**
 * An app's first step in its `main.ts`: its settings resolved from `env` (a bad one is the
 * process's one fatal line, then exit 1) and its logger at `LOG_LEVEL`. Node only: a subpath of
 * its own (`@imagesvc/runtime/app`), so the console's bundle never pulls in the logger.
 */
export function appStartup<A extends AppName>(
  app: A,
  env: Env = process.env,
): { settings: ResolvedSettings<A>; log: Logger } {
  const settings = settingsOrExit(() => resolveSettings(app, env), createLogger(app, "info"));
  const { LOG_LEVEL } = settings as { LOG_LEVEL?: string };
  return { settings, log: createLogger(app, LOG_LEVEL ?? "info") };
}
