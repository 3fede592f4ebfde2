// Compute quota at real durations: imports that last 10 minutes of Compute's time (the emulator's
// time scale compresses them to seconds, waits and all), followed by the worker while 0, 1 or 100
// clients watch each one. Counts the Compute calls per image, next to what clients that poll
// Compute themselves would spend on the same import.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ImageService, Operation_Status } from "@imagesvc/proto";
import {
  startEmulator,
  startGateway,
  startWorker,
  type AppProcess,
  type StartOptions,
} from "../processes";
import { createRequest, env, log, PROJECT } from "../settings";
import { round } from "../stats";
import { emulatorCalls } from "./e2e";

const IMPORT_SECONDS = 600;
/** Compute's time runs this many times faster: a 10-minute import takes 6 s, a 2-minute wait 1.2 s. */
const TIME_SCALE = 100;
const WATCHERS = [0, 1, 100] as const;

/**
 * Calls a client makes on one import of `seconds` if it inserts, then GETs the operation after
 * each interval `next(previous)` until the operation is DONE.
 */
export function pollingCalls(seconds: number, next: (previous: number) => number): number {
  let calls = 1; // the insert
  let interval = 0;
  for (let t = 0; t < seconds; t += interval) {
    interval = next(interval);
    calls++;
  }
  return calls;
}

/** Polling clients, from their documented intervals (docs/performance.md cites each). */
export const POLLERS = {
  /** Packer's googlecompute: GET every 5 s, no timeout (compute-facts.md). */
  packer: (seconds: number) => pollingCalls(seconds, () => 5),
  /**
   * Terraform's google provider: the plugin SDK's StateChangeConf, MinTimeout 2 s: the wait
   * doubles from 100 ms, at least 2 s, at most 10 s.
   */
  terraform: (seconds: number) =>
    pollingCalls(seconds, (previous) =>
      Math.min(10, Math.max(2, previous === 0 ? 0.2 : previous * 2)),
    ),
};

/** The burst's emulator quota, per minute of Compute's time: 100 inserts a second in real time. */
const BURST_WRITES_PER_MINUTE = 60;
const BURST_READS_PER_MINUTE = 600;

/**
 * A burst of `images` CreateImage in one project under Compute's rate quota, run by two workers:
 * with the budget they share in Redis (COMPUTE_QUOTA_*), and each retrying on its own (no
 * budget: the lifecycle's exponential backoff with jitter per image, as Google's client libraries
 * retry). Time to all DONE is set against the quota's floor, images ÷ the allowed insert rate.
 */
async function quotaBurst(
  redisUrl: string,
  prefix: string,
  options: StartOptions,
  emulator: AppProcess,
  gatewayUrl: string,
) {
  const images = env("BENCH_QUOTA_BURST_IMAGES", 300);
  const writesPerSecond = (BURST_WRITES_PER_MINUTE * TIME_SCALE) / 60;
  const floorSeconds = images / writesPerSecond;
  const out: Partial<
    Record<"shared" | "own", { seconds: number; overFloor: number; refusedPerImage: number }>
  > = {};
  for (const [mode, workerEnv] of [
    [
      "shared",
      {
        COMPUTE_QUOTA_WRITES_PER_MINUTE: String(BURST_WRITES_PER_MINUTE * TIME_SCALE),
        COMPUTE_QUOTA_READS_PER_MINUTE: String(BURST_READS_PER_MINUTE * TIME_SCALE),
      },
    ],
    ["own", {}],
  ] as const) {
    await fetch(`${emulator.url}/admin/reset`, { method: "POST" });
    await fetch(`${emulator.url}/admin/config`, {
      method: "PATCH",
      body: JSON.stringify({
        operationDurationMs: 0,
        quotaWritesPerMinute: BURST_WRITES_PER_MINUTE,
        quotaReadsPerMinute: BURST_READS_PER_MINUTE,
      }),
    });
    const workers = [
      await startWorker(redisUrl, prefix, emulator, options, { ...workerEnv }),
      await startWorker(redisUrl, prefix, emulator, options, { ...workerEnv }),
    ];
    try {
      const project = `quota-${mode}`;
      const client = createClient(ImageService, createGrpcTransport({ baseUrl: gatewayUrl }));
      const started = performance.now();
      await Promise.all(
        Array.from({ length: images }, async (_, i) => {
          const op = await client.createImage(createRequest(`burst-${String(i)}`, project));
          for await (const update of client.watchOperation({ project, operation: op.name }))
            if (update.status === Operation_Status.DONE) {
              if (update.error !== undefined)
                throw new Error(
                  `burst-${String(i)} ended with ${update.error.errors[0]?.code ?? "?"}`,
                );
              return;
            }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const state = (await (await fetch(`${emulator.url}/admin/state`)).json()) as {
        quotaRefusals: Record<string, { write: number; read: number }>;
      };
      const refused = state.quotaRefusals[project] ?? { write: 0, read: 0 };
      const refusedPerImage = round((refused.write + refused.read) / images, 2);
      out[mode] = {
        seconds: round(seconds, 2),
        overFloor: round(seconds / floorSeconds, 2),
        refusedPerImage,
      };
      log(
        `  burst, ${mode} budget: ${String(round(seconds, 2))} s for ${String(images)} images (floor ${String(floorSeconds)} s), ${String(refusedPerImage)} refused calls per image`,
      );
    } finally {
      for (const w of workers) await w.stop();
    }
  }
  await fetch(`${emulator.url}/admin/config`, {
    method: "PATCH",
    body: JSON.stringify({ quotaWritesPerMinute: 0, quotaReadsPerMinute: 0 }),
  });
  return {
    images,
    writesPerSecond,
    floorSeconds: round(floorSeconds, 2),
    shared: out.shared,
    own: out.own,
  };
}

export async function quotaRun(redisUrl: string, prefix: string, options: StartOptions) {
  const images = env("BENCH_QUOTA_IMAGES", 10);
  const running: AppProcess[] = [];
  try {
    const emulator = await startEmulator(options, {
      EMULATOR_TIME_SCALE: String(TIME_SCALE),
      EMULATOR_OPERATION_DURATION_MS: String(IMPORT_SECONDS * 1000),
      EMULATOR_WAIT_CAP_MS: "120000",
    });
    running.push(emulator);
    const gateway = await startGateway(redisUrl, prefix, options);
    running.push(gateway);
    const worker = await startWorker(redisUrl, prefix, emulator, options);
    const byWatchers = [];
    for (const watchers of WATCHERS) {
      await fetch(`${emulator.url}/admin/reset`, { method: "POST" });
      // One HTTP/2 connection per image, so 100 watchers stay within a connection's streams.
      const clients = Array.from({ length: images }, () =>
        createClient(ImageService, createGrpcTransport({ baseUrl: gateway.url })),
      );
      const started = performance.now();
      await Promise.all(
        clients.map(async (client, i) => {
          const op = await client.createImage(
            createRequest(`quota-${String(watchers)}-${String(i)}`),
          );
          const watch = async () => {
            for await (const update of client.watchOperation({
              project: PROJECT,
              operation: op.name,
            }))
              if (update.status === Operation_Status.DONE) return;
          };
          const poll = async () => {
            for (;;) {
              const now = await client.getOperation({ project: PROJECT, operation: op.name });
              if (now.status === Operation_Status.DONE) return;
              await new Promise((r) => setTimeout(r, 250));
            }
          };
          await Promise.all([poll(), ...Array.from({ length: watchers }, watch)]);
        }),
      );
      const calls = await emulatorCalls(emulator);
      const total = Object.values(calls).reduce((a, b) => a + b, 0);
      byWatchers.push({
        watchers,
        images,
        seconds: round((performance.now() - started) / 1000, 1),
        computeCallsPerImage: round(total / images, 2),
        computeCallsPerImageByMethod: Object.fromEntries(
          Object.entries(calls).map(([method, n]) => [method, round(n / images, 2)]),
        ),
      });
      log(
        `  ${String(watchers)} watchers: ${String(round(total / images, 2))} Compute calls per image`,
      );
    }
    await worker.stop();
    const burst = await quotaBurst(redisUrl, prefix, options, emulator, gateway.url);
    return {
      burst,
      importSeconds: IMPORT_SECONDS,
      timeScale: TIME_SCALE,
      waitCapSeconds: 120,
      byWatchers,
      pollingClients: {
        packerEvery5s: POLLERS.packer(IMPORT_SECONDS),
        terraform2to10s: POLLERS.terraform(IMPORT_SECONDS),
      },
    };
  } finally {
    for (const app of running.reverse()) await app.stop();
  }
}
