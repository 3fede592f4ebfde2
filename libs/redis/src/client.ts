import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { RedisTarget } from "./redis-url";

/** A connection to one Redis server or to a Redis Cluster; both speak the same commands. */
export type RedisClient = Redis | Cluster;

export interface RedisClientOptions {
  /** Fails a command that has no answer after this many ms. Default: none (blocking connections). */
  readonly commandTimeoutMs?: number;
  /** Retries of a command across reconnects; `null` waits for ever (BullMQ's blocking connection). */
  readonly maxRetriesPerRequest: number | null;
  /**
   * Sends the commands issued in one event-loop tick as one write (ioredis' autopipelining):
   * under concurrency, far fewer syscalls on both sides. Default: false.
   */
  readonly autoPipelining?: boolean;
  /** For a cluster subscriber: one SSUBSCRIBE connection per shard. Default: false. */
  readonly shardedSubscribers?: boolean;
}

/** A new client for the target. A cluster client finds every node from the seed nodes. */
export function createRedisClient(target: RedisTarget, options: RedisClientOptions): RedisClient {
  const redisOptions: RedisOptions = {
    maxRetriesPerRequest: options.maxRetriesPerRequest,
    ...(options.autoPipelining === true && { enableAutoPipelining: true }),
    ...(options.commandTimeoutMs !== undefined && { commandTimeout: options.commandTimeoutMs }),
  };
  if (target.kind === "single") return new Redis(target.url, redisOptions);
  return new Cluster(
    target.nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      redisOptions: {
        ...redisOptions,
        ...(target.username !== undefined && { username: target.username }),
        ...(target.password !== undefined && { password: target.password }),
        ...(target.tls && { tls: {} }),
      },
      ...(options.shardedSubscribers === true && { shardedSubscribers: true }),
      ...(options.autoPipelining === true && { enableAutoPipelining: true }),
    },
  );
}

/** Resolves when the client is ready, or after `ms`, whichever comes first. */
export async function readyOrTimeout(clients: readonly RedisClient[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ready = (client: RedisClient) =>
    client.status === "ready"
      ? Promise.resolve()
      : new Promise<void>((resolve) =>
          client.once("ready", () => {
            resolve();
          }),
        );
  await Promise.race([
    Promise.all(clients.map(ready)),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}
