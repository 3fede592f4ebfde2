import { Cluster } from "ioredis";
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

/**
 * The mode for this Redis: `sharded` on a cluster whose nodes run Redis 7 or newer, else
 * `classic`. Every process asks the same servers, so publishers and subscribers agree. On a
 * cluster it waits for the cluster to answer.
 */
export async function detectPubSubMode(client: RedisClient): Promise<PubSubMode> {
  if (!(client instanceof Cluster)) return "classic";
  const masters = client.nodes("master");
  const versions = await Promise.all(
    (masters.length > 0 ? masters : [client]).map(async (node) => {
      const info = await node.info("server");
      return Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0);
    }),
  );
  return versions.every((major) => major >= 7) ? "sharded" : "classic";
}

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
