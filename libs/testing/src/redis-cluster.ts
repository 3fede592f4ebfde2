import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { startRedisServer, type RedisServer } from "./redis-server";

const run = promisify(execFile);

/** A private Redis Cluster made of `redis-server` child processes. */
export interface RedisCluster {
  /** Masters first, then replicas, as `redis-cli --cluster create` paired them. */
  readonly servers: readonly RedisServer[];
  /** The seed nodes, `127.0.0.1:port,...`, as REDIS_CLUSTER_NODES takes them. */
  readonly nodes: string;
  /** `redis+cluster://127.0.0.1:port,...`, as REDIS_URL takes it. */
  readonly url: string;
  /** Stops every server and removes their data. */
  close(): Promise<void>;
}

export interface RedisClusterOptions {
  /** Masters. Default: 3. */
  readonly masters?: number;
  /** Replicas per master, which take over when their master fails. Default: 0. */
  readonly replicas?: number;
  /** `cluster-node-timeout`: how long before a silent node counts as failed, in ms. Default: 5000. */
  readonly nodeTimeoutMs?: number;
}

/**
 * Starts `masters × (1 + replicas)` servers with `--cluster-enabled yes`, joins them with
 * `redis-cli --cluster create` (every slot assigned), and resolves once every node reports
 * `cluster_state:ok`.
 */
export async function startRedisCluster(
  options: RedisClusterOptions | number = {},
): Promise<RedisCluster> {
  const {
    masters = 3,
    replicas = 0,
    nodeTimeoutMs = 5000,
  } = typeof options === "number" ? { masters: options } : options;
  const servers: RedisServer[] = [];
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      servers.push(
        await startRedisServer({
          args: [
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            String(nodeTimeoutMs),
            // A test cluster's replica always takes over from a failed master, however long
            // ago it last heard from it (the default refuses after node-timeout × 10).
            "--cluster-replica-validity-factor",
            "0",
          ],
        }),
      );
    }
    const addresses = servers.map((s) => `127.0.0.1:${String(s.port)}`);
    await run("redis-cli", [
      "--cluster",
      "create",
      ...addresses,
      "--cluster-replicas",
      String(replicas),
      "--cluster-yes",
    ]);
    await Promise.all(servers.map((s) => clusterOk(s.url)));
    if (replicas > 0) await replicasInSync(servers.slice(0, masters), replicas);
    const nodes = addresses.join(",");
    return {
      servers,
      nodes,
      url: `redis+cluster://${nodes}`,
      async close() {
        await Promise.all(servers.map((s) => s.close()));
      },
    };
  } catch (e) {
    await Promise.all(servers.map((s) => s.close()));
    throw e;
  }
}

async function clusterOk(url: string, timeoutMs = 20_000): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await client.cluster("INFO");
      if (info.includes("cluster_state:ok")) return;
      if (Date.now() > deadline) throw new Error(`cluster at ${url} is not ok: ${info}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    client.disconnect();
  }
}

/** Waits until every master reports its replicas online (synced), so a failover has someone to promote. */
async function replicasInSync(
  masters: readonly RedisServer[],
  replicas: number,
  timeoutMs = 20_000,
): Promise<void> {
  for (const master of masters) {
    const client = new Redis(master.url, { maxRetriesPerRequest: 1 });
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const info = await client.info("replication");
        // Connected is not enough: a replica still in its first sync cannot take over.
        if ((info.match(/^slave\d+:.*state=online/gm) ?? []).length >= replicas) break;
        if (Date.now() > deadline) throw new Error(`replicas of ${master.url} did not connect`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      client.disconnect();
    }
  }
}
