import type { Logger } from "pino";

export interface RunAppOptions {
  readonly log: Logger;
  /**
   * Starts the app and returns how to drain it. It may read `stopping()` (true once a signal
   * came), e.g. for readiness.
   */
  readonly start: (lifecycle: { readonly stopping: () => boolean }) => Promise<() => Promise<void>>;
  /** The longest a drain may take before the process exits anyway, in ms (SHUTDOWN_TIMEOUT_MS). */
  readonly shutdownTimeoutMs: number;
}

/**
 * An app's process lifecycle, the same for every app: start; on SIGTERM or SIGINT drain within
 * the bound and exit 0 (1 if the drain failed or timed out); a failure to start is logged as
 * fatal, with its message, and exits 1.
 */
export function runApp(options: RunAppOptions): void {
  const { log } = options;
  let stopping = false;
  let drain: (() => Promise<void>) | undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping: draining");
    setTimeout(() => {
      log.warn({ timeoutMs: options.shutdownTimeoutMs }, "drain timed out");
      process.exit(1);
    }, options.shutdownTimeoutMs).unref();
    (drain ?? (() => Promise.resolve()))().then(
      () => {
        log.info("stopped");
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: e }, "drain failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  options.start({ stopping: () => stopping }).then(
    (d) => {
      drain = d;
    },
    (e: unknown) => {
      log.fatal({ err: e }, e instanceof Error ? e.message : String(e));
      process.exit(1);
    },
  );
}

/**
 * Resolves an app's settings before anything starts: a bad or contradictory value (libs/config's
 * ConfigError) is logged as the process's one fatal line, naming the variable and the fix, and
 * the process exits 1, as a failure to start does under `runApp`.
 */
export function settingsOrExit<T>(resolve: () => T, log: Logger): T {
  try {
    return resolve();
  } catch (e) {
    log.fatal({ err: e }, e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
