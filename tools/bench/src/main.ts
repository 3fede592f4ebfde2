// `npm run bench`: the service's performance figures, measured side by side in one run on a stack
// of its own. One file per scenario under scenarios/, the table in report.ts. Prints the table
// and writes bench/results/<date>.json. See docs/performance.md.
import { startRedisServer } from "@imagesvc/testing";
import { Redis } from "ioredis";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { h2loadAvailable } from "./h2load";
import {
  startEmulator,
  startGateway,
  startWorker,
  type AppProcess,
  type StartOptions,
} from "./processes";
import { summarizeProfiles } from "./profile-summary";
import { printTable } from "./report";
import { fanOutBaseline } from "./scenarios/baseline";
import { shardsRun } from "./scenarios/shards";
import { endToEndRun } from "./scenarios/e2e";
import { fanOut } from "./scenarios/fanout";
import { importRun } from "./scenarios/import";
import { overheadRun } from "./scenarios/overhead";
import { queueFloor } from "./scenarios/queue-floor";
import { quotaRun } from "./scenarios/quota";
import { unaryCeiling } from "./scenarios/unary";
import { DATE, log, PREFIX, ROOT, SETTINGS } from "./settings";
import { round } from "./stats";

const PROFILE = process.argv.includes("--profile");
/** `--only=fanout` (or `--only=fanout,baseline`) runs just those scenarios. */
const ONLY = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const SCENARIOS = ["unary", "fanout", "e2e", "overhead", "import", "baseline", "quota", "shards"];
const only = ONLY?.split(",");
const unknown = only?.filter((s) => !SCENARIOS.includes(s)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(`bench: --only=${ONLY ?? ""}: the scenarios are ${SCENARIOS.join(", ")}\n`);
  process.exit(2);
}
const runs = (scenario: string) => only === undefined || only.includes(scenario);

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

    // The fan-out's operations have queued jobs; the worker that starts now would run them too
    // and count their commands and Compute calls against scenario 3's images.
    if (fanout !== undefined) await redis.flushall();
    log("scenario 3: end to end");
    const worker = await startWorker(redisServer.url, PREFIX, emulator, options);
    running.push(worker);
    const endToEnd = runs("e2e") ? await endToEndRun(gateway, worker, emulator, redis) : undefined;
    // Beside it, the same number of jobs through BullMQ alone, with a processor that does nothing.
    const bullmqAlone = runs("e2e") ? await queueFloor(redisServer.url) : undefined;

    log("scenario 4: overhead against a direct Compute call");
    const overhead = runs("overhead") ? await overheadRun(gateway, emulator, redis) : undefined;

    log("scenario 4b: images import of a 2 GiB qcow2 against the plain pipeline");
    const imports = runs("import") ? await importRun(emulator, gateway.url) : undefined;

    for (const app of running.reverse()) await app.stop();
    running.length = 0;

    log("scenario 5: fan-out baseline (connect-node alone, @grpc/grpc-js, bare node:http2)");
    const baseline = runs("baseline") ? await fanOutBaseline(redisServer.url) : undefined;
    log("scenario 6: Compute quota at real durations (10-minute imports, 0, 1 and 100 watchers)");
    await redis.flushall();
    const quota = runs("quota") ? await quotaRun(redisServer.url, PREFIX, options) : undefined;
    log("scenario 7: Redis's cost per image on a 3-master Redis Cluster, shard by shard");
    const shards = runs("shards") ? await shardsRun(options) : undefined;
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
      bullmqAlone,
      overhead,
      imports,
      baseline,
      quota,
      shards,
      ...(profiles !== undefined && { profiles }),
      benchSeconds: round((Date.now() - started) / 1000, 1),
    };
    printTable(results);
    // A partial or profiled run is kept apart from the full figures of the day.
    const suffix = `${ONLY === undefined ? "" : `-${ONLY.replaceAll(",", "-")}`}${PROFILE ? "-profile" : ""}`;
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

main().catch((e: unknown) => {
  process.stderr.write(
    `bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exitCode = 1;
});
