// Redis's cost per image on a 3-master Redis Cluster, shard by shard: the same end-to-end run as
// scenario 3, with images spread over several projects (records, indexes and update channels
// live in each project's slot, `{project}`), while BullMQ's queue is one slot (`{prefix:queue}`).
// The busiest shard's CPU per image bounds what the cluster carries.
import { operationKeys } from "@imagesvc/operations";
import { Operation_Status } from "@imagesvc/proto";
import { queuePrefix } from "@imagesvc/queue";
import { startRedisCluster } from "@imagesvc/testing";
import { Cluster, Redis } from "ioredis";
import { startEmulator, startGateway, startWorker } from "../processes";
import type { AppProcess, StartOptions } from "../processes";
import { commandsBetween, redisSnapshot } from "../redis-stats";
import { log, now, PREFIX, SETTINGS } from "../settings";
import { round } from "../stats";
import { createMany } from "./create-many";

export async function shardsRun(options: StartOptions) {
  const cluster = await startRedisCluster({ masters: 3 });
  const masters = cluster.servers.map((s) => new Redis(s.url));
  const client = new Cluster(
    cluster.servers.map((s) => ({ host: "127.0.0.1", port: s.port })),
    { lazyConnect: false },
  );
  const running: AppProcess[] = [];
  try {
    const emulator = await startEmulator(options);
    running.push(emulator);
    running.push(await startGateway(cluster.url, PREFIX, options));
    const gateway = running[1] as AppProcess;
    running.push(await startWorker(cluster.url, PREFIX, emulator, options));
    const projects = Array.from(
      { length: SETTINGS.shardProjects },
      (_, i) => `bench-shard-${String(i)}`,
    );
    const images = SETTINGS.shardImages;
    // Which master holds the queue's slot.
    const queueSlot = Number(await client.call("CLUSTER", "KEYSLOT", queuePrefix(PREFIX)));
    const slots = (await client.call("CLUSTER", "SLOTS")) as [number, number, [string, number]][];
    const queuePort = slots.find(([from, to]) => queueSlot >= from && queueSlot <= to)?.[2][1];

    const before = await Promise.all(masters.map(redisSnapshot));
    const start = now();
    const doneKeys = projects.map((p) =>
      operationKeys(PREFIX, p, "").byStatus(Operation_Status.DONE),
    );
    await createMany(gateway.url, images, "shard", (i) => projects[i % projects.length] ?? "");
    for (;;) {
      const done = await Promise.all(doneKeys.map((k) => client.zcard(k)));
      if (done.reduce((a, b) => a + b, 0) >= images) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (now() - start) / 1000;
    const after = await Promise.all(masters.map(redisSnapshot));
    const shards = cluster.servers.map((server, i) => {
      const b = before[i];
      const a = after[i];
      if (a === undefined || b === undefined) throw new Error("a shard has no snapshot");
      // The bench's polling (ZCARD) and INFO are left out; BullMQ's own ZCARD goes with them.
      const commands = [...commandsBetween(b, a).entries()]
        .filter(([command]) => command !== "zcard")
        .reduce((n, [, calls]) => n + calls, 0);
      return {
        holdsQueue: server.port === queuePort,
        redisCpuUsPerImage: round((a.cpuUs - b.cpuUs) / images, 0),
        redisCommandsPerImage: round(commands / images, 1),
      };
    });
    const busiest = Math.max(...shards.map((s) => s.redisCpuUsPerImage));
    const total = shards.reduce((n, s) => n + s.redisCpuUsPerImage, 0);
    const result = {
      images,
      projects: projects.length,
      imagesPerSecond: round(images / seconds, 0),
      shards,
      /** Every shard's CPU per image, summed: what the cluster spends on one image. */
      redisCpuUsPerImage: total,
      /** The images/s at which the busiest shard's core is full, one core per shard. */
      clusterCeilingImagesPerSecond: round(1e6 / busiest, 0),
    };
    log(
      `  ${String(result.imagesPerSecond)} images/s; Redis CPU µs per image by shard: ${shards.map((s) => `${String(s.redisCpuUsPerImage)}${s.holdsQueue ? " (queue)" : ""}`).join(", ")}`,
    );
    return result;
  } finally {
    for (const app of running.reverse()) await app.stop();
    client.disconnect();
    for (const m of masters) m.disconnect();
    await cluster.close();
  }
}
