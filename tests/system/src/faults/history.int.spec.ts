// A randomized history test, in the spirit of Jepsen. Each run drives the real gateway, workers
// (built, as processes) and Redis through a random schedule of faults: insert and wait errors
// before and after they take effect, resets, latency, early waits, worker `kill -9` at random
// moments, Redis restarts, cancels at random moments, and requestId TTLs and operation retention
// shorter than the operations. A checker then reads every operation's history (every version its
// watchers saw) and the emulator's images, and asserts the lifecycle's rules:
// - nothing stays PENDING or RUNNING;
// - DONE without error ⇔ exactly one image of the request exists, READY;
// - CANCELLED ⇒ no insert was ever sent;
// - DONE with an error ⇒ no image of the request, or Compute's own operation failed (FAILED);
// - versions strictly increase, status never goes back, nothing follows DONE.
// It prints `HISTORY runs=… operations=… violations=0`. HISTORY_RUNS and HISTORY_OPERATIONS make
// it longer; HISTORY_SEED repeats a schedule.
import { Operation_Status, type Operation } from "@imagesvc/proto";
import { startRedisServer, type RedisServer, type SpawnedApp } from "@imagesvc/testing";
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { imageRequest, startStack, type Stack } from "../e2e/stack.test-helper";

const RUNS = Number(process.env["HISTORY_RUNS"] ?? 10);
const OPERATIONS = Number(process.env["HISTORY_OPERATIONS"] ?? 24);
const SEED = Number(process.env["HISTORY_SEED"] ?? Date.now() % 1_000_000);
const PROJECT = "my-project";
const OWNERSHIP_LABEL = "imagesvc-request-id";

/** A small seeded generator (mulberry32), so a failing schedule can be run again. */
function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
  };
}
type Random = ReturnType<typeof generator>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Tracked {
  readonly name: string;
  readonly image: string;
  readonly requestId: string;
  /** Every version any watcher saw, in the order each saw them, per watcher. */
  readonly histories: Operation[][];
  cancelled: boolean;
}

/** The Compute faults of one run, drawn at random: rates, phases and kinds. */
function faultsFor(random: Random) {
  const rules: Record<string, unknown>[] = [];
  const rate = () => random.pick([0.05, 0.1, 0.2]);
  for (const [route, kinds] of [
    ["images.insert", ["503-before", "503-after", "reset-after", "429", "403-rate", "latency"]],
    ["globalOperations.wait", ["503-before", "reset-before", "early", "latency"]],
    ["images.get", ["503-before", "latency"]],
  ] as const) {
    for (const kind of kinds) {
      if (!random.chance(0.5)) continue;
      const [effect, phase] = kind.split("-");
      if (effect === "latency")
        rules.push({ route, effect: "latency", latencyMs: random.int(5, 80), rate: rate() });
      else if (effect === "early") rules.push({ route, effect: "waitEarly", rate: rate() });
      else if (effect === "reset") rules.push({ route, effect: "reset", phase, rate: rate() });
      else if (effect === "403") rules.push({ route, effect: "error", status: 403, rate: rate() });
      else
        rules.push({
          route,
          effect: "error",
          status: Number(effect),
          phase: phase ?? "before",
          rate: rate(),
        });
    }
  }
  return rules;
}

/** Watches an operation to DONE, reconnecting as a careful client does; records what it saw. */
async function record(stack: Stack, tracked: Tracked, signal: AbortSignal): Promise<void> {
  const seen: Operation[] = [];
  tracked.histories.push(seen);
  while (!signal.aborted) {
    try {
      for await (const op of stack.client.watchOperation(
        { project: PROJECT, operation: tracked.name },
        { signal },
      )) {
        seen.push(op);
        if (op.status === Operation_Status.DONE) return;
      }
    } catch {
      await sleep(50);
    }
  }
}

/** One run: a fresh stack on the shared private Redis, a random schedule, then the checker. */
async function runOnce(redis: RedisServer, seed: number, violations: string[]): Promise<number> {
  const random = generator(seed);
  const timeScale = 2000;
  const stack = await startStack({
    emulator: {
      timeScale,
      // 2 to 60 minutes of Compute time: 1 to 30 s... compressed to 60-1800 ms.
      operationDurationMs: random.int(2, 60) * 60_000,
      waitCapMs: 120_000,
      // Sometimes Compute forgets the requestId long before the import ends.
      requestIdTtlMs: random.pick([60, 10, 2]) * 60_000,
      // Sometimes it forgets finished operations quickly, so a re-run finds them gone.
      operationRetentionMs: random.pick([24 * 60, 5, 1]) * 60_000,
      seed,
      maxFailureStreak: 5,
      staticTokens: ["history"],
    },
    gateway: { settings: { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: 2000 } },
  });
  const env = {
    REDIS_URL: redis.url,
    REDIS_COMMAND_TIMEOUT_MS: "2000",
    JOB_LOCK_MS: "1000",
    JOB_MAX_RETRY_MS: String(random.pick([300, 3000])),
    WAIT_MIN_INTERVAL_MS: "5",
    IMAGE_POLL_MS: "30",
    SWEEP_INTERVAL_MS: "500",
    SWEEP_GRACE_MS: "1000",
  };
  // The workers start a little after the first operations, so some cancels come before any
  // insert (CANCELLED) and some race the first dispatch.
  const workers: SpawnedApp[] = [];
  const workersStarted = sleep(random.int(100, 600)).then(async () => {
    workers.push(await stack.startWorker(env), await stack.startWorker(env));
  });
  const stop = new AbortController();
  const tracked: Tracked[] = [];
  const recorders: Promise<void>[] = [];
  let kills = 0;
  let restarts = 0;
  try {
    // Someone else's image takes a name that some requests will ask for.
    const foreign = `foreign-${seed}`;
    await fetch(`${stack.emulator.url}/compute/v1/projects/${PROJECT}/global/images`, {
      method: "POST",
      headers: { authorization: "Bearer history", "content-type": "application/json" },
      body: JSON.stringify({ name: foreign, sourceImage: "projects/debian-cloud/global/images/d" }),
    });
    for (const rule of faultsFor(random)) stack.emulator.admin.addFault(rule);

    const chaos = (async () => {
      await workersStarted;
      for (let step = 0; step < 6 && !stop.signal.aborted; step++) {
        await sleep(random.int(200, 900));
        const roll = random.next();
        if (roll < 0.45) {
          const victim = workers.splice(random.int(0, workers.length - 1), 1)[0];
          await victim?.stop("SIGKILL");
          workers.push(await stack.startWorker(env));
          kills += 1;
        } else if (roll < 0.6) {
          await redis.restart();
          restarts += 1;
        }
      }
    })();

    for (let i = 0; i < OPERATIONS; i++) {
      await sleep(random.int(0, 120));
      const image = random.chance(0.1) ? foreign : `h${seed}-${i}`;
      const object = random.chance(0.1) ? "missing-disk.tar.gz" : "images/web.tar.gz";
      const requestId = randomUUID();
      let op: Operation | undefined;
      for (let attempt = 0; attempt < 40 && op === undefined; attempt++) {
        // A careful client repeats its request id until it gets an answer (Redis may be down).
        op = await stack.client
          .createImage({ ...imageRequest(image, object), requestId })
          .catch(async () => {
            await sleep(100);
            return undefined;
          });
      }
      if (op === undefined) {
        violations.push(`seed ${seed}: CreateImage never answered`);
        continue;
      }
      const t: Tracked = { name: op.name, image, requestId, histories: [], cancelled: false };
      tracked.push(t);
      recorders.push(record(stack, t, stop.signal));
      if (random.chance(0.3)) {
        const delay = random.int(0, 300);
        void sleep(delay).then(async () => {
          const answer = await stack.client
            .cancelOperation({ project: PROJECT, operation: op.name })
            .catch(() => undefined);
          if (answer !== undefined) t.cancelled = true;
        });
      }
    }
    await workersStarted;
    await chaos;
    // The schedule is over: Compute heals, and everything must reach DONE.
    stack.emulator.admin.clearFaults();
    const deadline = setTimeout(() => {
      stop.abort();
    }, 60_000);
    await Promise.all(recorders);
    clearTimeout(deadline);
    const outcomes = check(stack, tracked, seed, violations);
    process.stdout.write(
      `HISTORY run seed=${seed} operations=${tracked.length} kills=${kills} redisRestarts=${restarts} ${Object.entries(
        outcomes,
      )
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}\n`,
    );
    return tracked.length;
  } finally {
    stop.abort();
    await workersStarted.catch(() => undefined);
    for (const w of workers) await w.stop("SIGKILL");
    await stack.close();
  }
}

/** Checks every operation's history against the rules; returns how many ended which way. */
function check(
  stack: Stack,
  tracked: readonly Tracked[],
  seed: number,
  violations: string[],
): Record<string, number> {
  const outcomes: Record<string, number> = {};
  const state = stack.emulator.admin.state();
  const say = (t: Tracked, what: string) =>
    violations.push(`seed ${seed} ${t.name} (${t.image}): ${what}`);
  for (const t of tracked) {
    for (const history of t.histories) {
      for (let i = 1; i < history.length; i++) {
        const [a, b] = [history[i - 1], history[i]];
        if (a === undefined || b === undefined) continue;
        if (b.version <= a.version) say(t, `version ${b.version} after ${a.version}`);
        if (b.status < a.status) say(t, "status went back");
        if (b.progress < a.progress) say(t, "progress went back");
      }
    }
    const final = t.histories.flat().filter((o) => o.status === Operation_Status.DONE)[0];
    if (final === undefined) {
      say(t, "never reached DONE");
      continue;
    }
    const finals = new Set(
      t.histories.flatMap((h) =>
        h.filter((o) => o.status === Operation_Status.DONE).map((o) => o.version),
      ),
    );
    if (finals.size > 1) say(t, `more than one DONE version: ${[...finals].join(",")}`);
    const ours = state.images.filter(
      (i) => (i["labels"] as Record<string, string> | undefined)?.[OWNERSHIP_LABEL] === t.requestId,
    );
    const code = final.error?.errors[0]?.code;
    const outcome = code ?? "OK";
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    const inserts = state.insertCalls[t.requestId] ?? 0;
    if (ours.length > 1) say(t, `${ours.length} images`);
    if (final.error === undefined) {
      if (ours.length !== 1 || ours[0]?.status !== "READY")
        say(t, `DONE without error but images ${JSON.stringify(ours.map((i) => i.status))}`);
    } else if (code === "CANCELLED") {
      if (inserts > 0) say(t, `CANCELLED after ${inserts} inserts`);
    } else if (ours.some((i) => i.status !== "FAILED")) {
      say(t, `DONE with ${code ?? "?"} but an image of ours is ${ours[0]?.status ?? "?"}`);
    }
    if (t.cancelled && code !== "CANCELLED")
      say(t, `cancel answered OK but DONE with ${code ?? "success"}`);
  }
  return outcomes;
}

describe("randomized histories", () => {
  // About 8 s a run on the 2-core machine; HISTORY_RUNS scales it.
  it(
    "keep every lifecycle rule through kills, Redis restarts, Compute faults, cancels and expiries",
    {
      timeout: 60_000 + RUNS * 30_000,
    },
    async () => {
      const redis = await startRedisServer({ appendonly: true });
      const violations: string[] = [];
      let operations = 0;
      try {
        for (let run = 0; run < RUNS; run++)
          operations += await runOnce(redis, SEED + run, violations);
      } finally {
        await redis.stop();
      }
      process.stdout.write(
        `HISTORY runs=${RUNS} operations=${operations} seed=${SEED} violations=${violations.length}\n`,
      );
      expect(violations).toEqual([]);
    },
  );
});
