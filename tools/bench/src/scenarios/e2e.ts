import { operationKeys } from "@imagesvc/operations";
import { Operation_Status } from "@imagesvc/proto";
import { Redis } from "ioredis";
import type { AppProcess } from "../processes";
import { commandsBetween, redisSnapshot } from "../redis-stats";
import { log, now, PREFIX, PROJECT, SETTINGS } from "../settings";
import { round } from "../stats";
import { createMany } from "./create-many";

export async function emulatorCalls(emulator: AppProcess): Promise<Record<string, number>> {
  const res = await fetch(`${emulator.url}/admin/state`);
  const state = (await res.json()) as { calls: Record<string, number> };
  return Object.fromEntries(
    Object.entries(state.calls).filter(([route]) => /^(images|globalOperations)\./.test(route)),
  );
}

export async function endToEndRun(
  gateway: AppProcess,
  worker: AppProcess,
  emulator: AppProcess,
  redis: Redis,
) {
  const doneIndex = operationKeys(PREFIX, PROJECT, "").byStatus(Operation_Status.DONE);
  const poller = new Redis(redis.options);
  /** Resolves when `count` more operations than now are DONE, with the time; polls every 5 ms. */
  const done = async (count: number) => {
    const before = await poller.zcard(doneIndex);
    let polls = 1;
    for (;;) {
      polls++;
      if ((await poller.zcard(doneIndex)) - before >= count) return { at: now(), polls };
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  // Warm-up: the same load, not counted, so that every process runs compiled code.
  const warm = SETTINGS.endToEndWarmupImages;
  const warmed = done(warm);
  await createMany(gateway.url, warm, "e2e-warmup");
  await warmed;

  await fetch(`${emulator.url}/admin/reset`, { method: "POST" });
  const before = await redisSnapshot(redis);
  const cpuBefore = {
    gateway: gateway.cpuSeconds(),
    worker: worker.cpuSeconds(),
    emulator: emulator.cpuSeconds(),
  };
  const clientCpu = process.cpuUsage();
  const start = now();
  const allDone = done(SETTINGS.endToEndImages);
  await createMany(gateway.url, SETTINGS.endToEndImages, "e2e");
  const accepted = now();
  const { at: finished, polls } = await allDone;
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
    warmupImages: warm,
    seconds: round((finished - start) / 1000, 2),
    imagesPerSecond: round(n / ((finished - start) / 1000), 0),
    acceptedPerSecond: round(n / ((accepted - start) / 1000), 0),
    computeCallsPerImage: round(computeCalls / n, 2),
    computeCalls: calls,
    redisCommandsPerImage: round(totalCommands / n, 1),
    redisCommandsByName: Object.fromEntries(
      [...commands].sort((a, b) => b[1] - a[1]).map(([c, k]) => [c, round(k / n, 2)]),
    ),
    /**
     * Redis's own CPU per image (INFO cpu, the bench's 5 ms polling included), and the images/s
     * one Redis core could carry at that cost.
     */
    redisCpuUsPerImage: round((after.cpuUs - before.cpuUs) / n, 0),
    redisCeilingImagesPerSecond: round(n / ((after.cpuUs - before.cpuUs) / 1e6), 0),
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
