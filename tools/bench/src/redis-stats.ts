import type { Redis } from "ioredis";

export interface RedisSnapshot {
  /** Calls per command, from INFO commandstats. */
  readonly calls: Map<string, number>;
  readonly netInputBytes: number;
  readonly netOutputBytes: number;
  /** The Redis server's CPU time so far (user + system), in µs, from INFO cpu. */
  readonly cpuUs: number;
}

export async function redisSnapshot(redis: Redis): Promise<RedisSnapshot> {
  const [commandstats, stats, cpu] = await Promise.all([
    redis.info("commandstats"),
    redis.info("stats"),
    redis.info("cpu"),
  ]);
  const calls = new Map<string, number>();
  for (const m of commandstats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls.set(m[1] ?? "", Number(m[2]));
  }
  const stat = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(stats)?.[1] ?? 0);
  const seconds = (name: string) =>
    Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(cpu)?.[1] ?? 0);
  return {
    calls,
    netInputBytes: stat("total_net_input_bytes"),
    netOutputBytes: stat("total_net_output_bytes"),
    cpuUs: (seconds("used_cpu_user") + seconds("used_cpu_sys")) * 1e6,
  };
}

/** Commands run between two snapshots, without the bench's own INFO calls and `exclude`. */
export function commandsBetween(
  before: RedisSnapshot,
  after: RedisSnapshot,
  exclude: ReadonlyMap<string, number> = new Map(),
): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [command, calls] of after.calls) {
    if (command === "info") continue;
    const n = calls - (before.calls.get(command) ?? 0) - (exclude.get(command) ?? 0);
    if (n > 0) delta.set(command, n);
  }
  return delta;
}

export async function subscriberConnections(redis: Redis): Promise<number> {
  const list = (await redis.call("CLIENT", "LIST", "TYPE", "pubsub")) as string;
  return list.split("\n").filter((line) => line.trim() !== "").length;
}
