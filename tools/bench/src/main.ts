// `npm run bench`: the performance figures of issue #7, measured side by side in one run on a
// stack of its own. Prints a table and writes bench/results/<date>.json. See docs/performance.md.
import { clone, create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createComputeClient } from "@imagesvc/compute";
import { createOperationStore, operationKeys } from "@imagesvc/operations";
import { QUEUE_NAME, queuePrefix } from "@imagesvc/queue";
import {
  CreateImageRequestSchema,
  healthV1,
  ImageSchema,
  ImageService,
  OperationSchema,
  Operation_Status,
  type Operation,
} from "@imagesvc/proto";
import { execFile, fork } from "node:child_process";
import { promisify } from "node:util";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { startRedisServer } from "@imagesvc/testing";
import { Redis } from "ioredis";
import { grpcFrame, unaryClient } from "./grpc-unary";
import { h2loadAvailable, runUnary, type UnaryResult } from "./h2load";
import {
  startEmulator,
  startGateway,
  startWorker,
  type AppProcess,
  type StartOptions,
} from "./processes";
import { summarizeProfiles } from "./profile-summary";
import { commandsBetween, redisSnapshot, subscriberConnections } from "./redis-stats";
import { median, quantile, round } from "./stats";
import type { MinimalResult } from "./fanout-minimal";
import type { WatchJob, WatchMessage } from "./watch-client";

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SETTINGS = {
  unarySeconds: env("BENCH_SECONDS", 8),
  warmupSeconds: 2,
  concurrency: 64,
  fanoutOps: env("BENCH_FANOUT_OPS", 1000),
  watchersPerOp: env("BENCH_WATCHERS_PER_OP", 10),
  fanoutUpdatesPerOp: 5,
  /** Updates written per second during the fan-out (each reaches watchersPerOp streams). */
  /**
   * Updates written per second during the fan-out, each reaching watchersPerOp streams: 400/s
   * is each of the 1,000 operations moving every 2.5 s (BENCH_FANOUT_RATE to change it).
   */
  fanoutPublishRate: env("BENCH_FANOUT_RATE", 400),
  watchClients: 4,
  endToEndImages: env("BENCH_IMAGES", 2000),
  directImages: env("BENCH_DIRECT_IMAGES", 200),
} as const;
const PROFILE = process.argv.includes("--profile");
/** `--only=fanout` (or another scenario) runs one scenario, for profiling it alone. */
const ONLY = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const SCENARIOS = ["unary", "fanout", "e2e", "overhead", "baseline"];
if (ONLY !== undefined && !SCENARIOS.includes(ONLY)) {
  process.stderr.write(`bench: --only=${ONLY}: the scenarios are ${SCENARIOS.join(", ")}\n`);
  process.exit(2);
}
const runs = (scenario: string) => ONLY === undefined || ONLY === scenario;
const ROOT = join(import.meta.dirname, "..", "..", "..");
const DATE = new Date().toISOString().slice(0, 10);
const PROJECT = "bench-project";
const PREFIX = "bench";

const now = () => performance.timeOrigin + performance.now();
const log = (message: string) => {
  process.stderr.write(`bench: ${message}\n`);
};

async function main(): Promise<void> {
  if (!(await h2loadAvailable())) {
    throw new Error(
      "h2load is not installed; it is the unary load generator (Debian: apt-get install nghttp2-client)",
    );
  }
  const started = Date.now();
  const logDir = join(ROOT, "bench", "logs");
  const profileDir = join(ROOT, "bench", "profiles", DATE);
  rmSync(profileDir, { recursive: true, force: true });
  const options: StartOptions = {
    logDir,
    ...(PROFILE && { nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] }),
  };
  const redisServer = await startRedisServer();
  const redis = new Redis(redisServer.url);
  const emulator = await startEmulator(options);
  const running: AppProcess[] = [emulator];
  try {
    log("scenario 1: unary ceiling ratio (gateway alone)");
    let gateway = await startGateway(redisServer.url, PREFIX, options);
    running.push(gateway);
    const unary = runs("unary") ? await unaryCeiling(gateway, redis) : {};

    // A fresh gateway and an empty Redis, so the queued jobs of scenario 1 stay out of the rest.
    await gateway.stop();
    await redis.flushall();
    gateway = await startGateway(redisServer.url, PREFIX, options);
    running.push(gateway);

    log("scenario 2: fan-out");
    const fanout = runs("fanout") ? await fanOut(gateway, redis) : undefined;

    log("scenario 3: end to end");
    const worker = await startWorker(redisServer.url, PREFIX, emulator, options);
    running.push(worker);
    const endToEnd = runs("e2e") ? await endToEndRun(gateway, worker, emulator, redis) : undefined;

    log("scenario 4: overhead against a direct Compute call");
    const overhead = runs("overhead") ? await overheadRun(gateway, emulator, redis) : undefined;

    for (const app of running.reverse()) await app.stop();
    running.length = 0;

    log("scenario 5: fan-out baseline (connect-node alone, then bare node:http2)");
    const baseline = runs("baseline") ? await fanOutBaseline(redisServer.url) : undefined;
    const profiles = PROFILE ? summarizeProfiles(profileDir) : undefined;

    const results = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? "unknown",
        memoryGiB: round(totalmem() / 2 ** 30, 1),
        node: process.version,
        redis: (/redis_version:(\S+)/.exec(await redis.info("server")) ?? [])[1] ?? "unknown",
      },
      settings: SETTINGS,
      unary,
      fanout,
      endToEnd,
      overhead,
      baseline,
      ...(profiles !== undefined && { profiles }),
      benchSeconds: round((Date.now() - started) / 1000, 1),
    };
    printTable(results);
    // A partial or profiled run is kept apart from the full figures of the day.
    const suffix = `${ONLY === undefined ? "" : `-${ONLY}`}${PROFILE ? "-profile" : ""}`;
    const out = join(ROOT, "bench", "results", `${DATE}${suffix}.json`);
    mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${out}`);
  } finally {
    for (const app of running) await app.stop();
    redis.disconnect();
    await redisServer.close();
  }
}

/**
 * The fan-out on a minimal server, through the same bus, Redis and watch clients: connect-node
 * alone, then bare node:http2. Tells the framework's share from the gateway's and the bus's.
 */
async function fanOutBaseline(redisUrl: string) {
  const run = async (server: MinimalResult["server"]) => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--expose-gc", join(import.meta.dirname, "fanout-minimal.js"), server, redisUrl],
      { maxBuffer: 16 << 20 },
    );
    const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
    if (line === undefined) throw new Error(`fanout-minimal ${server} printed no result`);
    return JSON.parse(line.slice("RESULT ".length)) as MinimalResult;
  };
  return { connect: await run("connect"), raw: await run("raw") };
}

const createRequest = (name: string) =>
  create(CreateImageRequestSchema, {
    project: PROJECT,
    image: {
      name,
      rawDisk: { source: "https://storage.googleapis.com/bench-bucket/images/web.tar.gz" },
      labels: { team: "bench" },
    },
  });

async function unaryCeiling(gateway: AppProcess, redis: Redis) {
  const request = createRequest("bench-image");
  const grpcHeaders = { "content-type": "application/grpc", te: "trailers" };
  const jsonHeaders = { "content-type": "application/json" };
  const base = {
    connections: 4,
    streamsPerConnection: SETTINGS.concurrency / 4,
    seconds: SETTINGS.unarySeconds,
    warmupSeconds: SETTINGS.warmupSeconds,
  };
  const created = () => redis.zcard(operationKeys(PREFIX, PROJECT, "").all);
  const cases = {
    grpc: {
      ceiling: {
        url: `${gateway.url}/grpc.health.v1.Health/Check`,
        body: grpcFrame(
          toBinary(healthV1.HealthCheckRequestSchema, create(healthV1.HealthCheckRequestSchema)),
        ),
        headers: grpcHeaders,
      },
      create: {
        url: `${gateway.url}/computeimages.v1.ImageService/CreateImage`,
        body: grpcFrame(toBinary(CreateImageRequestSchema, request)),
        headers: grpcHeaders,
      },
    },
    connectJson: {
      ceiling: {
        url: `${gateway.url}/grpc.health.v1.Health/Check`,
        body: new TextEncoder().encode("{}"),
        headers: jsonHeaders,
      },
      create: {
        url: `${gateway.url}/computeimages.v1.ImageService/CreateImage`,
        body: new TextEncoder().encode(toJsonString(CreateImageRequestSchema, request)),
        headers: jsonHeaders,
      },
    },
  };
  const out: Record<
    string,
    { ceiling: UnaryResult; create: UnaryResult; ratio: number; operationsCreated: number }
  > = {};
  for (const [protocol, pair] of Object.entries(cases)) {
    const ceiling = await runUnary({ ...base, ...pair.ceiling });
    const before = await created();
    const createRun = await runUnary({ ...base, ...pair.create });
    const operationsCreated = (await created()) - before;
    // h2load counts HTTP 200s; a gRPC error is a 200 too, so check the records really exist.
    if (operationsCreated < createRun.succeeded || createRun.failed > 0) {
      throw new Error(
        `${protocol}: ${String(createRun.succeeded)} CreateImage answered but ${String(operationsCreated)} operations were recorded`,
      );
    }
    out[protocol] = {
      ceiling,
      create: createRun,
      ratio: round(createRun.perSecond / ceiling.perSecond, 3),
      operationsCreated,
    };
    log(
      `  ${protocol}: CreateImage ${round(createRun.perSecond, 0)}/s, ceiling ${round(ceiling.perSecond, 0)}/s`,
    );
  }
  return out;
}

const CREATE_PATH = "/computeimages.v1.ImageService/CreateImage";

/** Creates `count` operations through the gateway over gRPC, `concurrency` at a time. */
async function createMany(gatewayUrl: string, count: number, prefix: string): Promise<Operation[]> {
  // Encoded up front, so the timed part is the calls.
  const frames = Array.from({ length: count }, (_, i) =>
    grpcFrame(toBinary(CreateImageRequestSchema, createRequest(`${prefix}-${String(i)}`))),
  );
  const client = unaryClient(gatewayUrl);
  const ops: Operation[] = [];
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: SETTINGS.concurrency }, async () => {
        while (next < count) {
          const i = next++;
          const frame = frames[i];
          if (frame === undefined) break;
          ops[i] = fromBinary(OperationSchema, await client.call(CREATE_PATH, frame));
        }
      }),
    );
  } finally {
    client.close();
  }
  return ops;
}

async function fanOut(gateway: AppProcess, redis: Redis) {
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

  // Updates through the worker's own write path: store.update, the UPDATE script and its PUBLISH.
  const store = createOperationStore({ redis, prefix: PREFIX });
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
    /** Without the first step, which takes the major GC of the garbage left by opening. */
    publishToDeliverP99MsAfterFirstStep: round(quantile(byStep.slice(1).flat(), 0.99)),
    /** Redis PUBLISH → the gateway's bus, from its histogram: the bucket bound holding p99. */
    redisToGatewayP99BucketMs: gatewaySide.p99BucketMs,
    gatewayEventLoopLagMaxMs: round(gatewaySide.eventLoopLagMaxMs, 1),
    stepStartsMonotonicUs,
    gatewayRssBeforeMiB: round(rssBefore / 2 ** 20, 1),
    gatewayRssOpenMiB: round(rssOpen / 2 ** 20, 1),
    gatewayRssPerStreamKiB: round((rssOpen - rssBefore) / streams / 1024, 2),
    gatewayHeapUsedPerStreamKiB: round((heapOpen.used - heapBefore.used) / streams / 1024, 2),
    gatewayExternalPerStreamKiB: round(
      (heapOpen.external - heapBefore.external) / streams / 1024,
      2,
    ),
    redisSubscriberConnections: subscribers,
    gatewayCpuSeconds: round(gatewayCpu, 2),
    gatewayIdleCpuPerSecond: round(idleCpuPerSecond, 3),
    /** The gateway's CPU per delivered update, and what one core could deliver at that cost. */
    gatewayCpuPerDeliveryUs: round((gatewayCpu / delivered) * 1e6, 0),
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
): Promise<{ p99BucketMs: number; eventLoopLagMaxMs: number }> {
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
  return { p99BucketMs: (bucket?.le ?? Number.NaN) * 1000, eventLoopLagMaxMs: lagMax * 1000 };
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

async function emulatorCalls(emulator: AppProcess): Promise<Record<string, number>> {
  const res = await fetch(`${emulator.url}/admin/state`);
  const state = (await res.json()) as { calls: Record<string, number> };
  return Object.fromEntries(
    Object.entries(state.calls).filter(([route]) => /^(images|globalOperations)\./.test(route)),
  );
}

async function endToEndRun(
  gateway: AppProcess,
  worker: AppProcess,
  emulator: AppProcess,
  redis: Redis,
) {
  await fetch(`${emulator.url}/admin/reset`, { method: "POST" });
  const doneIndex = operationKeys(PREFIX, PROJECT, "").byStatus(Operation_Status.DONE);
  const doneBefore = await redis.zcard(doneIndex);
  const poller = new Redis(redis.options);
  const before = await redisSnapshot(redis);
  const cpuBefore = {
    gateway: gateway.cpuSeconds(),
    worker: worker.cpuSeconds(),
    emulator: emulator.cpuSeconds(),
  };
  const clientCpu = process.cpuUsage();
  const start = now();
  let polls = 0;
  const allDone = (async () => {
    for (;;) {
      polls++;
      if ((await poller.zcard(doneIndex)) - doneBefore >= SETTINGS.endToEndImages) return now();
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  await createMany(gateway.url, SETTINGS.endToEndImages, "e2e");
  const accepted = now();
  const finished = await allDone;
  const clientUsage = process.cpuUsage(clientCpu);
  const after = await redisSnapshot(redis);
  poller.disconnect();
  const calls = await emulatorCalls(emulator);
  const commands = commandsBetween(before, after, new Map([["zcard", polls]]));
  const n = SETTINGS.endToEndImages;
  const totalCommands = [...commands.values()].reduce((a, b) => a + b, 0);
  const computeCalls = Object.values(calls).reduce((a, b) => a + b, 0);
  const result = {
    images: n,
    seconds: round((finished - start) / 1000, 2),
    imagesPerSecond: round(n / ((finished - start) / 1000), 0),
    acceptedPerSecond: round(n / ((accepted - start) / 1000), 0),
    computeCallsPerImage: round(computeCalls / n, 2),
    computeCalls: calls,
    redisCommandsPerImage: round(totalCommands / n, 1),
    redisCommandsByName: Object.fromEntries(
      [...commands].sort((a, b) => b[1] - a[1]).map(([c, k]) => [c, round(k / n, 2)]),
    ),
    redisBytesInPerImage: round((after.netInputBytes - before.netInputBytes) / n, 0),
    redisBytesOutPerImage: round((after.netOutputBytes - before.netOutputBytes) / n, 0),
    cpuSeconds: {
      gateway: round(gateway.cpuSeconds() - cpuBefore.gateway, 2),
      worker: round(worker.cpuSeconds() - cpuBefore.worker, 2),
      emulator: round(emulator.cpuSeconds() - cpuBefore.emulator, 2),
      client: round((clientUsage.user + clientUsage.system) / 1e6, 2),
    },
  };
  log(`  ${String(result.imagesPerSecond)} images/s`);
  return result;
}

async function overheadRun(gateway: AppProcess, emulator: AppProcess, redis: Redis) {
  const client = createClient(ImageService, createGrpcTransport({ baseUrl: gateway.url }));
  // The worker's own Compute client, with tokens from the emulator's metadata server.
  process.env["GCE_METADATA_HOST"] = emulator.url.replace("http://", "");
  process.env["METADATA_SERVER_DETECTION"] = "assume-present";
  const compute = createComputeClient({ endpoint: emulator.url });
  const image = (name: string) =>
    create(ImageSchema, {
      name,
      rawDisk: { source: "https://storage.googleapis.com/bench-bucket/images/web.tar.gz" },
      labels: { team: "bench" },
    });
  const direct: number[] = [];
  const service: number[] = [];
  /** Parts of the service path: the CreateImage call, and the watch's first message. */
  const createCall: number[] = [];
  const snapshot: number[] = [];
  /** Per service image: when the client sent CreateImage and when it saw DONE, ms since epoch. */
  const times: { operation: string; sent: number; done: number }[] = [];
  // Interleaved, so both see the same machine.
  for (let i = 0; i < SETTINGS.directImages; i++) {
    let t = now();
    // What the worker does: insert with a requestId, then follow the operation to DONE.
    const inserted = await compute.insertImage(PROJECT, image(`direct-${String(i)}`), {
      requestId: crypto.randomUUID(),
    });
    await compute.followOperation(PROJECT, inserted.name, { initial: inserted });
    direct.push(now() - t);

    t = now();
    const op = await client.createImage(createRequest(`service-${String(i)}`));
    const accepted = now();
    let first = true;
    for await (const update of client.watchOperation({ project: PROJECT, operation: op.name })) {
      if (first) {
        first = false;
        snapshot.push(now() - accepted);
      }
      if (update.status === Operation_Status.DONE) break;
    }
    service.push(now() - t);
    createCall.push(accepted - t);
    times.push({ operation: op.name, sent: t, done: now() });
  }
  // Where the service's time goes, from BullMQ's own stamps on each job (ms, this machine's
  // clock): queued by the gateway, taken by the worker, finished by the worker.
  const parts = { gateway: [] as number[], handOff: [] as number[], worker: [] as number[] };
  const toClient: number[] = [];
  for (const t of times) {
    const [queued, taken, finished] = (
      await redis.hmget(
        `${queuePrefix(PREFIX)}:${QUEUE_NAME}:${t.operation}`,
        "timestamp",
        "processedOn",
        "finishedOn",
      )
    ).map(Number);
    // A job hash that is gone reads as nulls, which Number() makes 0.
    if (!queued || !taken || !finished) continue;
    parts.gateway.push(queued - t.sent);
    parts.handOff.push(taken - queued);
    parts.worker.push(finished - taken);
    toClient.push(t.done - finished);
  }
  return {
    images: SETTINGS.directImages,
    directMedianMs: round(median(direct)),
    serviceMedianMs: round(median(service)),
    addedMedianMs: round(median(service) - median(direct)),
    createCallMedianMs: round(median(createCall)),
    watchFirstMessageMedianMs: round(median(snapshot)),
    directP99Ms: round(quantile(direct, 0.99)),
    serviceP99Ms: round(quantile(service, 0.99)),
    /**
     * Medians along the service path (BullMQ stamps in whole ms): client send → job queued (the
     * gateway's checks and writes), → job taken (BullMQ's hand-off), → job finished (the worker,
     * Compute included), → DONE at the client (publish, delivery, the watch's own open).
     */
    pathMedianMs: {
      untilQueued: round(median(parts.gateway)),
      handOff: round(median(parts.handOff)),
      worker: round(median(parts.worker)),
      untilClientHasDone: round(median(toClient)),
    },
  };
}

type Results = {
  machine: { cpus: number; cpuModel: string; node: string; redis: string };
  unary: Awaited<ReturnType<typeof unaryCeiling>>;
  fanout: Awaited<ReturnType<typeof fanOut>> | undefined;
  endToEnd: Awaited<ReturnType<typeof endToEndRun>> | undefined;
  overhead: Awaited<ReturnType<typeof overheadRun>> | undefined;
  baseline: Awaited<ReturnType<typeof fanOutBaseline>> | undefined;
  benchSeconds: number;
};

function printTable(r: Results): void {
  const rows: [string, string, string][] = [];
  const add = (figure: string, value: string, target = "") => rows.push([figure, value, target]);
  const mark = (ok: boolean) => (ok ? "met" : "MISSED");
  for (const [protocol, u] of Object.entries(r.unary)) {
    add(
      `${protocol}: CreateImage /s (p50, p99 ms)`,
      `${round(u.create.perSecond, 0)} (${round(u.create.p50Ms)}, ${round(u.create.p99Ms)})`,
    );
    add(
      `${protocol}: no-op ceiling /s (p50, p99 ms)`,
      `${round(u.ceiling.perSecond, 0)} (${round(u.ceiling.p50Ms)}, ${round(u.ceiling.p99Ms)})`,
    );
    add(`${protocol}: CreateImage ÷ ceiling`, String(u.ratio), `≥ 0.70 ${mark(u.ratio >= 0.7)}`);
    add(
      `${protocol}: client CPU s (ceiling, create)`,
      `${round(u.ceiling.clientCpuSeconds)}, ${round(u.create.clientCpuSeconds)} of ${String(r.unary[protocol]?.create.seconds ?? 0)} s`,
    );
  }
  const f = r.fanout;
  if (f !== undefined) {
    add("fan-out: streams / operations", `${String(f.streams)} / ${String(f.operations)}`);
    add(
      "fan-out: updates delivered",
      `${String(f.updatesDelivered)} of ${String(f.updatesExpected)}`,
      mark(f.updatesDelivered === f.updatesExpected),
    );
    add("fan-out: updates delivered /s", String(f.deliveredPerSecond));
    add("fan-out: publish → deliver p50 ms", String(f.publishToDeliverP50Ms));
    add(
      "fan-out: publish → deliver p99 ms",
      String(f.publishToDeliverP99Ms),
      `< 100 ${mark(f.publishToDeliverP99Ms < 100)}`,
    );
    add(
      "fan-out: gateway RSS MiB (before, open)",
      `${String(f.gatewayRssBeforeMiB)}, ${String(f.gatewayRssOpenMiB)}`,
    );
    add(
      "fan-out: gateway RSS per stream KiB",
      String(f.gatewayRssPerStreamKiB),
      `< 40 ${mark(f.gatewayRssPerStreamKiB < 40)}`,
    );
    add(
      "fan-out: Redis subscriber connections",
      String(f.redisSubscriberConnections),
      `= 1 ${mark(f.redisSubscriberConnections === 1)}`,
    );
    add(
      "fan-out: CPU s (gateway, clients)",
      `${String(f.gatewayCpuSeconds)}, ${String(f.clientCpuSeconds)}`,
    );
    add(
      "fan-out: offered updates /s (deliveries /s)",
      `${String(SETTINGS.fanoutPublishRate)} (${String(SETTINGS.fanoutPublishRate * SETTINGS.watchersPerOp)})`,
    );
    add(
      "fan-out: gateway µs CPU per delivery (deliveries /s per core)",
      `${String(f.gatewayCpuPerDeliveryUs)} (${String(f.gatewayDeliveryCapacityPerSecond)})`,
    );
    add(
      "fan-out: p99 ms per update step (redis → gateway p99 bucket)",
      `${f.publishToDeliverP99MsByStep.join(", ")} (${String(f.redisToGatewayP99BucketMs)})`,
    );
    add(
      "fan-out: p99 ms after the first step",
      String(f.publishToDeliverP99MsAfterFirstStep),
      `< 100 ${mark(f.publishToDeliverP99MsAfterFirstStep < 100)}`,
    );
    add(
      "fan-out: gateway heap / external per stream KiB",
      `${String(f.gatewayHeapUsedPerStreamKiB)} / ${String(f.gatewayExternalPerStreamKiB)}`,
    );
    add("fan-out: gateway idle CPU s per s, streams open", String(f.gatewayIdleCpuPerSecond));
  }
  const e = r.endToEnd;
  if (e !== undefined) {
    add(
      "end to end: images /s",
      `${String(e.imagesPerSecond)} (${String(e.images)} in ${String(e.seconds)} s)`,
      `≥ 500 ${mark(e.imagesPerSecond >= 500)}`,
    );
    add(
      "end to end: Compute calls per image",
      String(e.computeCallsPerImage),
      `≤ 2 ${mark(e.computeCallsPerImage <= 2)}`,
    );
    add("end to end: Redis commands per image", String(e.redisCommandsPerImage));
    add(
      "end to end: Redis bytes in/out per image",
      `${String(e.redisBytesInPerImage)} / ${String(e.redisBytesOutPerImage)}`,
    );
    add(
      "end to end: CPU s (gateway, worker, emulator, client)",
      `${String(e.cpuSeconds.gateway)}, ${String(e.cpuSeconds.worker)}, ${String(e.cpuSeconds.emulator)}, ${String(e.cpuSeconds.client)}`,
    );
  }
  const o = r.overhead;
  if (o !== undefined) {
    add(
      "overhead: median direct / service ms",
      `${String(o.directMedianMs)} / ${String(o.serviceMedianMs)}`,
    );
    add("overhead: added median ms", String(o.addedMedianMs), `< 5 ${mark(o.addedMedianMs < 5)}`);
    add(
      "overhead: path medians ms (queued, hand-off, worker, DONE at client)",
      `${String(o.pathMedianMs.untilQueued)}, ${String(o.pathMedianMs.handOff)}, ${String(o.pathMedianMs.worker)}, ${String(o.pathMedianMs.untilClientHasDone)}`,
    );
  }

  const b = r.baseline;
  if (b !== undefined) {
    for (const m of [b.connect, b.raw]) {
      const who = m.server === "connect" ? "connect-node alone" : "bare node:http2";
      add(
        `baseline, ${who}: p99 ms (per step)`,
        `${String(m.p99Ms)} (${m.p99MsByStep.join(", ")})`,
      );
      add(
        `baseline, ${who}: RSS per stream KiB, longest stall ms, client CPU s`,
        `${String(m.rssPerStreamKiB)}, ${String(m.longestStallMs)}, ${String(m.clientCpuSeconds)}`,
      );
    }
  }

  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((row) => row[c]?.length ?? 0)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  const header = [
    `imagesvc bench, ${new Date().toISOString()}, ${String(r.machine.cpus)} × ${r.machine.cpuModel}, Node ${r.machine.node}, Redis ${r.machine.redis}, ${String(r.benchSeconds)} s`,
    line(["figure", "value", "target"]),
    line(widths.map((w) => "-".repeat(w))),
  ];
  process.stdout.write(`${[...header, ...rows.map(line)].join("\n")}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(
    `bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exitCode = 1;
});
