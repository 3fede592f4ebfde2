import {
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Context,
  type Span,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { randomUUID } from "node:crypto";

/** Where spans go: nowhere (the default), stdout, or an OTLP/HTTP collector. */
export type TraceExporter = "none" | "console" | "otlp";
const EXPORTERS: readonly TraceExporter[] = ["none", "console", "otlp"];

const w3c = new W3CTraceContextPropagator();
const tracer = () => trace.getTracer("imagesvc");

/**
 * Installs a span exporter. Off by default: without one, spans are not recorded, yet the W3C
 * trace context still flows from the RPC into the job and onto every Compute call, so logs and
 * Compute requests share the caller's trace id.
 */
export function setupTracing(options: { exporter: string; otlpEndpoint?: string | undefined }): {
  shutdown(): Promise<void>;
} {
  if (!EXPORTERS.includes(options.exporter as TraceExporter)) {
    throw new Error(
      `OTEL_TRACES_EXPORTER: "${options.exporter}" is not one of ${EXPORTERS.join(", ")}`,
    );
  }
  if (options.exporter === "none") return { shutdown: () => Promise.resolve() };
  const processor =
    options.exporter === "console"
      ? new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() })
      : new BatchSpanProcessor({
          exporter: new OTLPTraceExporter(
            options.otlpEndpoint === undefined ? {} : { url: options.otlpEndpoint },
          ),
        });
  const provider = new TracerProvider({ spanProcessors: [processor] });
  trace.setGlobalTracerProvider(provider);
  return { shutdown: () => provider.shutdown() };
}

/** A span and what flows on from it. */
export interface TracedStep {
  readonly span: Span;
  readonly context: Context;
  /** The W3C `traceparent` to hand on (a job, an outgoing call). */
  readonly traceparent: string;
  readonly traceId: string;
}

/**
 * Starts a span under the trace context in `traceparent` (an incoming header or a job's field).
 * With none, or an invalid one, it starts a fresh trace, so every operation has a trace id.
 */
export function startStep(
  name: string,
  traceparent: string | undefined,
  kind: SpanKind,
): TracedStep {
  let parent = w3c.extract(
    ROOT_CONTEXT,
    traceparent === undefined ? {} : { traceparent },
    defaultTextMapGetter,
  );
  if (trace.getSpanContext(parent) === undefined) {
    parent = trace.setSpanContext(ROOT_CONTEXT, {
      // From randomUUID's cached entropy: a randomBytes call is a system call per request.
      traceId: randomUUID().replaceAll("-", ""),
      spanId: randomUUID().slice(0, 8) + randomUUID().slice(0, 8),
      traceFlags: 0,
      isRemote: true,
    });
  }
  const span = tracer().startSpan(name, { kind }, parent);
  const context = trace.setSpan(parent, span);
  const carrier: Record<string, string> = {};
  w3c.inject(context, carrier, defaultTextMapSetter);
  return {
    span,
    context,
    traceparent: carrier["traceparent"] ?? "",
    traceId: span.spanContext().traceId,
  };
}

export { SpanKind };
