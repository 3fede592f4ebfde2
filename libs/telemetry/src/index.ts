/** Observability shared by the apps: Prometheus metrics, pino logs with secrets redacted, and W3C trace context. */
export { createMetrics, type Metrics } from "./metrics";
export { createLogger, redactSecrets, SECRET_KEYS } from "./logger";
export { setupTracing, startStep, SpanKind, type TraceExporter, type TracedStep } from "./tracing";
export { probeHandler, type ProbeOptions, type ProbeResponse } from "./probes";
