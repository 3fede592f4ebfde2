import { ConfigError } from "@imagesvc/config";
import { Cluster } from "ioredis";
import { once } from "node:events";
import { createRedisClient, type RedisClient } from "./client";
import type { RedisTarget } from "./redis-url";

/**
 * How updates travel. `classic`: PUBLISH/SUBSCRIBE, for one server (and a cluster older than
 * Redis 7, where PUBLISH reaches every node). `sharded`: SPUBLISH/SSUBSCRIBE on a Redis 7+
 * cluster, where a message stays on the shard that owns its channel's slot.
 */
export type PubSubMode = "classic" | "sharded";

/** The publish command of a mode, for scripts that publish. */
export const publishCommand = (mode: PubSubMode) => (mode === "sharded" ? "SPUBLISH" : "PUBLISH");

/** What a deployment configures (`REDIS_PUBSUB`): a mode, or `auto` to ask the servers. */
export type PubSubSetting = PubSubMode | "auto";

/**
 * What the servers support: `sharded` on a cluster whose masters all run Redis 7 or newer, else
 * `classic`. It waits for the cluster to be ready and asks every master, not one node.
 */
export async function detectPubSubMode(client: RedisClient): Promise<PubSubMode> {
  if (!(client instanceof Cluster)) return "classic";
  if (client.status !== "ready") await once(client, "ready");
  const masters = client.nodes("master");
  if (masters.length === 0) throw new Error("the cluster reports no masters");
  const versions = await Promise.all(
    masters.map(async (node) => {
      const info = await node.info("server");
      return Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0);
    }),
  );
  return versions.every((major) => major >= 7) ? "sharded" : "classic";
}

/**
 * The pub/sub mode of a deployment: the same in every gateway and worker, or updates are lost
 * (a SPUBLISH never reaches a SUBSCRIBE). On one Redis it is `classic`. On a cluster it is the
 * configured mode, or with `auto` what `detectPubSubMode` finds; the first process to decide
 * records it under `key` (SET NX), and every process after it uses the recorded mode, so two
 * processes that start on either side of a Redis upgrade cannot disagree. A configured mode
 * that contradicts the recorded one stops the process with a ConfigError naming REDIS_PUBSUB.
 */
export async function agreePubSubMode(
  client: RedisClient,
  setting: PubSubSetting,
  key: string,
): Promise<PubSubMode> {
  if (!(client instanceof Cluster)) {
    if (setting === "sharded")
      throw new ConfigError(
        "REDIS_PUBSUB",
        'is "sharded", which needs a Redis Cluster (REDIS_CLUSTER_NODES); use "classic" or "auto" on one Redis',
      );
    return "classic";
  }
  const wanted = setting === "auto" ? await detectPubSubMode(client) : setting;
  await client.set(key, wanted, "NX");
  const recorded = await client.get(key);
  if (recorded !== "classic" && recorded !== "sharded") {
    throw new ConfigError(
      "REDIS_PUBSUB",
      `the deployment's recorded mode at ${key} is ${JSON.stringify(recorded)}; delete that key and restart`,
    );
  }
  if (setting !== "auto" && recorded !== setting) {
    throw new ConfigError(
      "REDIS_PUBSUB",
      `is "${setting}", but this deployment's processes use "${recorded}" (recorded at ${key}). ` +
        `Set REDIS_PUBSUB=${recorded} (or auto), or stop every gateway and worker, delete ${key}, and start them with the new mode`,
    );
  }
  return recorded;
}

/** The key under which a deployment records its pub/sub mode. */
export const pubSubModeKey = (prefix: string) => `${prefix}:pubsub-mode`;

/** One subscriber connection (one per shard in sharded mode), whatever the mode. */
export interface Subscriber {
  readonly mode: PubSubMode;
  /** The underlying client, for health checks and tests. */
  readonly client: RedisClient;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  /** Each message of a subscribed channel. */
  onMessage(listener: (channel: string, message: string) => void): void;
  /**
   * Messages may have been lost: the connection is ready again after it was lost, or (on a
   * cluster) a node failed, joined or left, or a shard's subscriber changed. Not called on the
   * first connect. May be called many times in a burst.
   */
  onReconnect(listener: () => void): void;
  close(): Promise<void>;
}

/** A new subscriber connection to the target. */
export function createSubscriber(target: RedisTarget, mode: PubSubMode): Subscriber {
  return subscriberOf(
    createRedisClient(target, {
      maxRetriesPerRequest: null,
      shardedSubscribers: mode === "sharded",
    }),
    mode,
  );
}

/**
 * A subscriber over a client made elsewhere; it owns the client from here on. In sharded mode
 * the client must be a Cluster made with `shardedSubscribers: true`.
 */
export function subscriberOf(client: RedisClient, mode: PubSubMode): Subscriber {
  const sharded = mode === "sharded";
  let connectedOnce = client.status === "ready";
  const reconnectListeners: (() => void)[] = [];
  const notify = () => {
    for (const listener of reconnectListeners) listener();
  };
  client.on("ready", () => {
    if (!connectedOnce) {
      connectedOnce = true;
      return;
    }
    notify();
  });
  if (client instanceof Cluster) {
    // A cluster stays "ready" through a failover, while the subscription of the failed shard
    // moves to another node and messages published meanwhile are lost. Any change of topology,
    // or of the sharded subscribers, may mean such a gap.
    for (const event of [
      "+node",
      "-node",
      "node error",
      "+subscriber",
      "-subscriber",
      "subscribersReady",
    ]) {
      client.on(event, () => {
        if (connectedOnce) notify();
      });
    }
  }
  return {
    mode,
    client,
    // One channel per call: in sharded mode every channel of one SSUBSCRIBE must share a slot.
    subscribe: (channel) => (sharded ? client.ssubscribe(channel) : client.subscribe(channel)),
    unsubscribe: (channel) =>
      sharded ? client.sunsubscribe(channel) : client.unsubscribe(channel),
    onMessage(listener) {
      client.on(sharded ? "smessage" : "message", listener);
    },
    onReconnect(listener) {
      reconnectListeners.push(listener);
    },
    async close() {
      await client.quit().catch(() => undefined);
    },
  };
}
