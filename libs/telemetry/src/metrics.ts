import { constants, PerformanceObserver, type PerformanceEntry } from "node:perf_hooks";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};
/** The longest GC pause seen in this process, in seconds, by kind; one observer per process. */
const longestGcPause = new Map<string, number>();
let gcObserver: PerformanceObserver | undefined;
function observeGc(): void {
  if (gcObserver !== undefined) return;
  gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
      const kind = GC_KINDS[detail?.kind ?? -1] ?? "other";
      longestGcPause.set(kind, Math.max(longestGcPause.get(kind) ?? 0, entry.duration / 1000));
    }
  });
  gcObserver.observe({ entryTypes: ["gc"] });
}

/** Latency buckets from 1 ms to 2 minutes (a Compute wait), in seconds. */
const BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
];

/**
 * The service's Prometheus metrics, one registry per process. Gateway and worker create the same
 * set and each records what it sees; series nobody records stay empty.
 */
export function createMetrics(app: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ app });
  collectDefaultMetrics({ register: registry });
  observeGc();
  return {
    registry,
    gcLongestPause: new Gauge({
      name: "imagesvc_gc_longest_pause_seconds",
      help: "The longest garbage-collection pause since the process started, by kind (major, minor, incremental, weakcb).",
      labelNames: ["kind"],
      registers: [registry],
      collect() {
        for (const [kind, seconds] of longestGcPause) this.set({ kind }, seconds);
      },
    }),
    rpcRequests: new Counter({
      name: "imagesvc_rpc_requests_total",
      help: "RPCs answered, by method and code.",
      labelNames: ["method", "code"],
      registers: [registry],
    }),
    rpcDuration: new Histogram({
      name: "imagesvc_rpc_duration_seconds",
      help: "RPC latency, by method (a stream: until it ends).",
      labelNames: ["method"],
      buckets: BUCKETS,
      registers: [registry],
    }),
    watchStreams: new Gauge({
      name: "imagesvc_watch_streams_open",
      help: "Open WatchOperation streams.",
      registers: [registry],
    }),
    publishToDeliver: new Histogram({
      name: "imagesvc_update_publish_to_deliver_seconds",
      help: "From an update's PUBLISH in Redis to its delivery to this process's watchers.",
      buckets: BUCKETS,
      registers: [registry],
    }),
    queueJobs: new Gauge({
      name: "imagesvc_queue_jobs",
      help: "Jobs in the queue, by state (read at scrape time).",
      labelNames: ["state"],
      registers: [registry],
    }),
    jobs: new Counter({
      name: "imagesvc_jobs_total",
      help: "Jobs finished by this worker, by outcome.",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    computeCalls: new Counter({
      name: "imagesvc_compute_calls_total",
      help: "Compute API calls, by method, HTTP status (0: no answer) and error reason.",
      labelNames: ["method", "status", "reason"],
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: "imagesvc_webhook_deliveries_total",
      help: "Webhook delivery attempts, by outcome: delivered, retried, failed (retries ran out), refused (off the allowlist).",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    sweeperUnreadable: new Counter({
      name: "imagesvc_sweeper_unreadable_total",
      help: "Operation records the sweeper could not read and skipped (corrupt, or from a release this one does not know), each counted once per process.",
      registers: [registry],
    }),
    preflights: new Counter({
      name: "imagesvc_preflight_total",
      help: "Pre-flights of raw disk sources, by result (passed, refused, unchecked) and, when refused, the code.",
      labelNames: ["result", "code"],
      registers: [registry],
    }),
    computeDuration: new Histogram({
      name: "imagesvc_compute_call_duration_seconds",
      help: "Compute API call latency, by method.",
      labelNames: ["method"],
      buckets: BUCKETS,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
