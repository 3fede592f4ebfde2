/** Observability shared by the apps: Prometheus metrics, and pino logs with secrets redacted. */
export { createMetrics, type Metrics } from "./metrics";
export { createLogger, REDACTED_PATHS } from "./logger";
