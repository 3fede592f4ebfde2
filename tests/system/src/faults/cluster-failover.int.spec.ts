// A Redis Cluster master fails while watchers wait: its replica takes over, and every watcher
// still gets DONE. Redis pub/sub delivers at most once, and a DONE published while the gateway's
// subscriber for that shard was moving to the new master is lost in transit; the gateway must
// notice the failover and re-read the snapshot of every watched operation, as it does after a
// reconnect to a single Redis.
import { ImageService, Operation_Status, type Operation } from "@imagesvc/proto";
import { startRedisCluster, type RedisCluster } from "@imagesvc/testing";
import { createClient } from "@connectrpc/connect";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageRequest, startStack } from "../e2e/stack.test-helper";

/** The port of the master that serves `key`'s slot. */
async function masterOf(client: Cluster, key: string): Promise<number> {
  const slot = await client.cluster("KEYSLOT", key);
  const ranges = await client.cluster("SLOTS");
  const master = ranges.find(([start, end]) => slot >= start && slot <= end)?.[2];
  if (master === undefined) throw new Error(`no master for slot ${slot}`);
  return master[1];
}

// Sharded pub/sub (one subscriber per shard, Redis 7+) and classic pub/sub (one subscriber on
// any node, which ioredis moves silently when its node fails).
describe.each<["sharded" | "classic"]>([["sharded"], ["classic"]])(
  "a Redis Cluster failover, %s pub/sub",
  (mode) => {
    let cluster: RedisCluster;
    beforeAll(async () => {
      cluster = await startRedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1000 });
    });
    afterAll(async () => {
      await cluster.close();
    });

    it(
      "kills the master of the watched operations' shard: its replica takes over, and every watcher gets DONE",
      {
        timeout: 120_000,
      },
      async () => {
        const stack = await startStack({
          cluster,
          emulator: { operationDurationMs: 4000, waitCapMs: 60_000 },
          gateway: { settings: { REDIS_PUBSUB: mode } },
        });
        try {
          await stack.startWorker({ JOB_LOCK_MS: "2000", REDIS_PUBSUB: mode });
          expect(stack.gateway.subscriber.mode).toBe(mode);
          const client = stack.redis.client;
          if (!(client instanceof Cluster)) throw new Error("not a cluster");
          const port = await masterOf(client, `${stack.prefix}:{my-project}:op:x`);
          const victim = cluster.servers.find((s) => s.port === port);
          if (victim === undefined) throw new Error(`no server on ${port}`);

          // Operations start over 4 s, so their DONEs spread across the failover's window.
          const watchers: Promise<{ done: boolean; versions: number[] }>[] = [];
          const ops: Operation[] = [];
          const started = Date.now();
          for (let i = 0; i < 16; i++) {
            const op = await stack.client.createImage(imageRequest(`failover-${i}`));
            ops.push(op);
            for (let w = 0; w < 3; w++) {
              const watcher = createClient(ImageService, stack.transport("connect"));
              watchers.push(
                (async () => {
                  const versions: number[] = [];
                  for await (const o of watcher.watchOperation(
                    { project: "my-project", operation: op.name },
                    { signal: AbortSignal.timeout(60_000) },
                  )) {
                    versions.push(o.version);
                    if (o.status === Operation_Status.DONE) return { done: true, versions };
                  }
                  return { done: false, versions };
                })(),
              );
            }
            await new Promise((r) => setTimeout(r, 250));
          }
          await new Promise((r) => setTimeout(r, Math.max(0, 4500 - (Date.now() - started))));
          await victim.kill();

          const results = await Promise.all(
            watchers.map((w) => w.catch((e: unknown) => ({ done: false, versions: [], error: e }))),
          );
          const done = results.filter((r) => r.done).length;
          process.stdout.write(
            `FAULTS cluster-failover-${mode}: watchers=${watchers.length} done=${done}\n`,
          );
          expect(done).toBe(watchers.length);
          for (const r of results)
            for (let i = 1; i < r.versions.length; i++)
              expect(r.versions[i]).toBeGreaterThan(r.versions[i - 1] ?? 0);
          const images = stack.emulator.admin
            .state()
            .images.filter((i) => i.name.startsWith("failover-"));
          expect(images).toHaveLength(16);
        } finally {
          // A cleanup that trips on the killed node must not hide the test's own verdict.
          await stack.close().catch((e: unknown) => {
            process.stdout.write(`FAULTS cluster-failover-${mode}: cleanup failed: ${String(e)}\n`);
          });
        }
      },
    );
  },
);
