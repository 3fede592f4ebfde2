import { clone } from "@bufbuild/protobuf";
import { createOperationStore } from "@imagesvc/operations";
import { OperationSchema, Operation_Status } from "@imagesvc/proto";
import type { Redis } from "ioredis";
import { fork } from "node:child_process";
import { join } from "node:path";
import type { AppProcess } from "../processes";
import { redisSnapshot, subscriberConnections } from "../redis-stats";
import { env, now, log, PREFIX, PROJECT, SETTINGS } from "../settings";
import { quantile, round } from "../stats";
import type { WatchJob, WatchMessage } from "../watch-client";
import { createMany } from "./create-many";

export async function fanOut(gateway: AppProcess, redis: Redis) {
  const ops = await createMany(gateway.url, SETTINGS.fanoutOps, "fanout");
  await new Promise((r) => setTimeout(r, 5000));
  const rssBefore = gateway.rss();
  const heapBefore = await gatewayHeap(gateway);
  const streams = ops.length * SETTINGS.watchersPerOp;
  const perClient = Math.ceil(ops.length / SETTINGS.watchClients);
  const children = Array.from({ length: SETTINGS.watchClients }, (_, c) => {
    const child = fork(join(import.meta.dirname, "watch-client.js"), { stdio: "inherit" });
    const job: WatchJob = {
      url: gateway.url,
      project: PROJECT,
      ops: ops.slice(c * perClient, (c + 1) * perClient).map((o) => o.name),
      firstIndex: c * perClient,
      watchersPerOp: SETTINGS.watchersPerOp,
      connections: env("BENCH_WATCH_CONNECTIONS", 8),
    };
    const opened = new Promise<void>((resolve, reject) => {
      child.once("exit", (code) => {
        reject(new Error(`a watch client exited with ${String(code)} before its streams opened`));
      });
      child.on("message", (m: WatchMessage) => {
        if (m.type !== "open") return;
        if (m.errors === 0) resolve();
        else
          reject(
            new Error(
              `${String(m.errors)} of ${String(m.errors + m.streams)} streams failed to open: ${m.firstError ?? ""}`,
            ),
          );
      });
    });
    const done = new Promise<Extract<WatchMessage, { type: "done" }>>((resolve, reject) => {
      child.on("message", (m: WatchMessage) => {
        if (m.type === "done") resolve(m);
      });
      child.once("exit", (code) => {
        reject(new Error(`a watch client exited with ${String(code)} before it was done`));
      });
    });
    done.catch(() => undefined);
    child.send(job);
    return { opened, done };
  });
  await Promise.all(children.map((c) => c.opened));
  // What holding the streams costs with nothing happening (timers, pings, GC); then memory,
  // once the garbage of opening them has had time to go.
  const idleFrom = gateway.cpuSeconds();
  const idleMs = env("BENCH_IDLE_MS", 5000);
  await new Promise((r) => setTimeout(r, idleMs));
  const idleCpuPerSecond = (gateway.cpuSeconds() - idleFrom) / Math.max(idleMs / 1000, 0.001);
  const rssOpen = gateway.rss();
  const heapOpen = await gatewayHeap(gateway);
  const subscribers = await subscriberConnections(redis);
  const gatewayCpuBefore = gateway.cpuSeconds();
  const gatewayMainCpuBefore = gateway.mainThreadCpuSeconds();

  // Updates through the worker's own write path: store.update, the UPDATE script and its PUBLISH.
  const store = createOperationStore({
    redis,
    prefix: PREFIX,
    pubsub: "classic",
    retentionMs: 24 * 3600_000,
  });
  const published: number[][] = ops.map(() => []);
  const before = await redisSnapshot(redis);
  const steps = Array.from({ length: SETTINGS.fanoutUpdatesPerOp }, (_, s) => s + 1);
  const writes: Promise<unknown>[] = [];
  const tickMs = 5;
  const perTick = Math.max(1, Math.round((SETTINGS.fanoutPublishRate * tickMs) / 1000));
  const firstPublish = now();
  /** CLOCK_MONOTONIC µs at each step's start: the clock of `node --cpu-prof` timestamps. */
  const stepStartsMonotonicUs: number[] = [];
  for (const step of steps) {
    stepStartsMonotonicUs.push(Number(process.hrtime.bigint() / 1000n));
    for (let i = 0; i < ops.length; i += perTick) {
      const tickStart = now();
      for (const [j, op] of ops.slice(i, i + perTick).entries()) {
        const next = clone(OperationSchema, op);
        const last = step === steps.length;
        next.status = last ? Operation_Status.DONE : Operation_Status.RUNNING;
        next.progress = last ? 100 : step * 20;
        (published[i + j] ??= [])[step + 1] = now();
        writes.push(store.update(next));
      }
      const wait = tickMs - (now() - tickStart);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
  await Promise.all(writes);
  const results = await Promise.all(children.map((c) => c.done));
  const gatewaySide = await gatewayPublishToDeliver(gateway);
  const after = await redisSnapshot(redis);
  const gatewayCpu = gateway.cpuSeconds() - gatewayCpuBefore;
  const gatewayMainCpu = gateway.mainThreadCpuSeconds() - gatewayMainCpuBefore;

  const latencies: number[] = [];
  /** Latencies per step: the last one (DONE) also ends every stream. */
  const byStep: number[][] = steps.map(() => []);
  let lastArrival = 0;
  let missing = 0;
  for (const r of results) {
    for (let k = 0; k < r.records.length; k += 3) {
      const op = r.records[k] ?? 0;
      const version = r.records[k + 1] ?? 0;
      const at = r.records[k + 2] ?? 0;
      const sent = published[op]?.[version];
      if (sent === undefined) missing++;
      else {
        latencies.push(at - sent);
        byStep[version - 2]?.push(at - sent);
      }
      lastArrival = Math.max(lastArrival, at);
    }
  }
  const delivered = latencies.length;
  const expected = streams * SETTINGS.fanoutUpdatesPerOp;
  const publishes = ops.length * SETTINGS.fanoutUpdatesPerOp;
  const result = {
    streams,
    operations: ops.length,
    updatesPublished: publishes,
    updatesDelivered: delivered,
    updatesExpected: expected,
    unmatched: missing,
    streamErrors: results.reduce((n, r) => n + r.errors, 0),
    deliveredPerSecond: round(delivered / ((lastArrival - firstPublish) / 1000), 0),
    publishToDeliverP50Ms: round(quantile(latencies, 0.5)),
    publishToDeliverP99Ms: round(quantile(latencies, 0.99)),
    publishToDeliverP99MsByStep: byStep.map((l) => round(quantile(l, 0.99))),
    /** The worst step's p99: the target holds at every step. */
    publishToDeliverP99MsWorstStep: Math.max(...byStep.map((l) => round(quantile(l, 0.99)))),
    /** Redis PUBLISH → the gateway's bus, from its histogram: the bucket bound holding p99. */
    redisToGatewayP99BucketMs: gatewaySide.p99BucketMs,
    gatewayEventLoopLagMaxMs: round(gatewaySide.eventLoopLagMaxMs, 1),
    stepStartsMonotonicUs,
    gatewayRssBeforeMiB: round(rssBefore / 2 ** 20, 1),
    gatewayRssOpenMiB: round(rssOpen / 2 ** 20, 1),
    gatewayRssPerStreamKiB: round((rssOpen - rssBefore) / streams / 1024, 2),
    gatewayHeapUsedPerStreamKiB: round((heapOpen.used - heapBefore.used) / streams / 1024, 2),
    /** The V8 heap in use with every stream open, and the longest major-GC pause of the run. */
    gatewayHeapOpenMiB: round(heapOpen.used / 2 ** 20, 1),
    gatewayLongestMajorGcMs: round(gatewaySide.longestMajorGcMs, 1),
    gatewayExternalPerStreamKiB: round(
      (heapOpen.external - heapBefore.external) / streams / 1024,
      2,
    ),
    redisSubscriberConnections: subscribers,
    gatewayCpuSeconds: round(gatewayCpu, 2),
    gatewayIdleCpuPerSecond: round(idleCpuPerSecond, 3),
    /** The gateway's CPU per delivered update, and what one core could deliver at that cost. */
    gatewayCpuPerDeliveryUs: round((gatewayCpu / delivered) * 1e6, 0),
    /** The main thread's share, comparable with the baseline servers' figure. */
    gatewayMainThreadCpuPerDeliveryUs: round((gatewayMainCpu / delivered) * 1e6, 0),
    gatewayDeliveryCapacityPerSecond: round(delivered / gatewayCpu, 0),
    clientCpuSeconds: round(
      results.reduce((n, r) => n + r.cpuSeconds, 0),
      2,
    ),
    redisBytesOutPerUpdate: round((after.netOutputBytes - before.netOutputBytes) / publishes, 0),
  };
  log(
    `  ${String(delivered)}/${String(expected)} updates, p99 ${String(result.publishToDeliverP99Ms)} ms, ${String(result.gatewayRssPerStreamKiB)} KiB/stream`,
  );
  return result;
}

/** The p99 of the gateway's publish → deliver histogram, as the upper bound of its bucket. */
async function gatewayPublishToDeliver(
  gateway: AppProcess,
): Promise<{ p99BucketMs: number; eventLoopLagMaxMs: number; longestMajorGcMs: number }> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  // prom-client's event-loop delay since the previous scrape (the one before the updates).
  const lagMax = Number(/^nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1]);
  const buckets = [
    ...text.matchAll(
      /^imagesvc_update_publish_to_deliver_seconds_bucket\{le="([^"]+)"[^}]*\} (\S+)$/gm,
    ),
  ].map((m) => ({ le: Number(m[1]), count: Number(m[2]) }));
  const total = buckets.at(-1)?.count ?? 0;
  const bucket = buckets.find((b) => b.count >= total * 0.99);
  // The longest pause of a major GC since the gateway started (libs/telemetry).
  const gc = Number(
    /^imagesvc_gc_longest_pause_seconds\{[^}]*kind="major"[^}]*\} (\S+)$/m.exec(text)?.[1] ?? 0,
  );
  return {
    p99BucketMs: (bucket?.le ?? Number.NaN) * 1000,
    eventLoopLagMaxMs: lagMax * 1000,
    longestMajorGcMs: gc * 1000,
  };
}

/** V8 heap in use and external memory, from the gateway's /metrics (prom-client defaults). */
async function gatewayHeap(gateway: AppProcess): Promise<{ used: number; external: number }> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const metric = (name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  return {
    used: metric("nodejs_heap_size_used_bytes"),
    external: metric("nodejs_external_memory_bytes"),
  };
}
