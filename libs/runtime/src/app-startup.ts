import { resolveSettings, type AppName, type Env, type ResolvedSettings } from "@imagesvc/config";
import { createLogger } from "@imagesvc/telemetry";
import type { Logger } from "pino";
import { runApp, settingsOrExit, type RunAppOptions } from "./run-app";

/**
 * An app's first step in its `main.ts`: its settings resolved from `env` (a bad one is the
 * process's one fatal line, then exit 1) and its logger at `LOG_LEVEL`. Node only: a subpath of
 * its own (`@imagesvc/runtime/app`), so the console's bundle never pulls in the logger.
 */
export function appStartup<A extends AppName>(
  app: A,
  env: Env = process.env,
): {
  settings: ResolvedSettings<A>;
  log: Logger;
  /**
   * `runApp` with this app's logger and SHUTDOWN_TIMEOUT_MS, plus `drainRoomMs` for an app whose
   * own close is bounded by that setting and needs room after it.
   */
  run: (start: RunAppOptions["start"], options?: { readonly drainRoomMs?: number }) => void;
} {
  const settings = settingsOrExit(() => resolveSettings(app, env), createLogger(app, "info"));
  const { LOG_LEVEL, SHUTDOWN_TIMEOUT_MS } = settings as {
    LOG_LEVEL?: string;
    SHUTDOWN_TIMEOUT_MS?: number;
  };
  const log = createLogger(app, LOG_LEVEL ?? "info");
  const run = (start: RunAppOptions["start"], { drainRoomMs = 0 } = {}) => {
    if (SHUTDOWN_TIMEOUT_MS === undefined) throw new Error(`${app} has no SHUTDOWN_TIMEOUT_MS`);
    runApp({ log, start, shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS + drainRoomMs });
  };
  return { settings, log, run };
}
