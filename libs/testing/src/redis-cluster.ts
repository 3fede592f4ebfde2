import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { startRedisServer, type RedisServer } from "./redis-server";

const run = promisify(execFile);

/** A private Redis Cluster of masters only, made of `redis-server` child processes. */
export interface RedisCluster {
  readonly servers: readonly RedisServer[];
  /** The seed nodes, `127.0.0.1:port,...`, as REDIS_CLUSTER_NODES takes them. */
  readonly nodes: string;
  /** `redis+cluster://127.0.0.1:port,...`, as REDIS_URL takes it. */
  readonly url: string;
  /** Stops every server and removes their data. */
  close(): Promise<void>;
}

/**
 * Starts `masters` servers with `--cluster-enabled yes`, joins them with
 * `redis-cli --cluster create` (every slot assigned, no replicas), and resolves once every node
 * reports `cluster_state:ok`.
 */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const servers: RedisServer[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      servers.push(
        await startRedisServer({
          args: ["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"],
        }),
      );
    }
    const addresses = servers.map((s) => `127.0.0.1:${String(s.port)}`);
    await run("redis-cli", [
      "--cluster",
      "create",
      ...addresses,
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    await Promise.all(servers.map((s) => clusterOk(s.url)));
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
