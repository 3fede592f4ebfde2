// The pipeline's end-to-end cases on a 3-master Redis Cluster, plus what only a cluster shows:
// queue keys in one slot, and updates over sharded pub/sub.
import { startRedisCluster, type RedisCluster, type SpawnedApp } from "@imagesvc/testing";
import { Cluster } from "ioredis";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pipelineSuite } from "./pipeline.test-helper";
import { drain, imageRequest, startStack, type Stack } from "./stack.test-helper";

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster(3);
});
afterAll(async () => {
  await cluster.close();
});

describe("on a 3-master Redis Cluster", () => {
  pipelineSuite(() => ({ cluster }));
});

describe("Redis Cluster specifics", () => {
  let stack: Stack;
  let worker: SpawnedApp;
  beforeAll(async () => {
    stack = await startStack({ cluster });
    worker = await stack.startWorker();
  });
  afterAll(async () => {
    await stack.close();
  });

  it("is configured by REDIS_CLUSTER_NODES and publishes by SPUBLISH", () => {
    expect(worker.readyLine).toMatchObject({
      redis: `redis+cluster://${cluster.nodes}`,
      pubsub: "sharded",
    });
    expect(stack.gateway.subscriber.mode).toBe("sharded");
  });

  it("keeps every key of the queue in one slot, and an operation's keys in its project's slot", async () => {
    const project = `p-${randomBytes(3).toString("hex")}`;
    const ops = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        stack.client.createImage({ ...imageRequest(`slot-${String(i)}`), project }),
      ),
    );
    await Promise.all(
      ops.map((op) => drain(stack.client.watchOperation({ project, operation: op.name }))),
    );
    const client = stack.redis.client;
    expect(client).toBeInstanceOf(Cluster);
    const keys = await stack.keys();
    const slotOf = async (key: string) => client.cluster("KEYSLOT", key);
    const queueKeys = keys.filter((k) => k.startsWith(`{${stack.prefix}:queue}`));
    const projectKeys = keys.filter((k) => k.startsWith(`${stack.prefix}:{${project}}`));
    expect(queueKeys.length).toBeGreaterThan(6);
    expect(projectKeys.length).toBeGreaterThan(6);
    expect(new Set(await Promise.all(queueKeys.map(slotOf))).size).toBe(1);
    expect(new Set(await Promise.all(projectKeys.map(slotOf))).size).toBe(1);
  });

  it("delivers updates of operations whose channels live on different shards", async () => {
    // Projects hash to different slots, so their channels spread over the three masters.
    const projects = Array.from({ length: 12 }, (_, i) => `shard-${String(i)}`);
    const client = stack.redis.client as Cluster;
    const owners = new Set(
      await Promise.all(
        projects.map(async (p) => {
          const slot = await client.cluster("KEYSLOT", `{${p}}`);
          const ranges = await client.cluster("SLOTS");
          return ranges.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
        }),
      ),
    );
    expect(owners.size).toBe(3);
    const runs = await Promise.all(
      projects.map(async (project) => {
        const op = await stack.client.createImage({ ...imageRequest("sharded"), project });
        const channel = `${stack.prefix}:{${project}}:op:${op.name}`;
        const stream = drain(stack.client.watchOperation({ project, operation: op.name }));
        return { channel, seen: await stream };
      }),
    );
    for (const { seen } of runs) {
      expect(seen.map((o) => o.version)).toEqual([...seen.map((o) => o.version)].sort());
      expect(seen.length).toBeGreaterThan(2);
      expect(seen.at(-1)?.targetId).toMatch(/^\d+$/);
    }
    // Nothing went by classic pub/sub, and every sharded subscription was released.
    const classic = await Promise.all(
      client.nodes("master").map((n) => n.call("PUBSUB", "CHANNELS", `${stack.prefix}:*`)),
    );
    expect(classic.flat()).toEqual([]);
    for (const { channel } of runs) expect(await stack.subscriptions(channel)).toBe(0);
  });
});
