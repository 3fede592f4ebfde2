import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { answersPing, startRedisServer, type RedisServer } from "./redis-server";

/** A Redis for one test: a URL, a key prefix no other test uses, and a client. */
export interface TestRedis {
  readonly url: string;
  /** A random prefix such as `t:3f9a1c2b:`; give it to the code under test for its keys. */
  readonly prefix: string;
  /** A client for assertions. Closed by cleanup(). */
  readonly client: Redis;
  /** Deletes every key under `prefix` and closes `client`. Call it in afterEach. */
  cleanup(): Promise<void>;
}

let shared: Promise<string> | undefined;
let spawned: RedisServer | undefined;

/**
 * The Redis integration tests share: `REDIS_URL` if set, else 127.0.0.1:6379 if it answers, else
 * a `redis-server` spawned on a free port for this process, saving nothing to disk.
 */
export function sharedRedisUrl(): Promise<string> {
  shared ??= (async () => {
    const fromEnv = process.env["REDIS_URL"];
    if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
    const local = "redis://127.0.0.1:6379";
    if (await answersPing(local)) return local;
    spawned = await startRedisServer();
    process.once("exit", () => void spawned?.kill());
    return spawned.url;
  })();
  return shared;
}

/** Gives a test the shared Redis under a random key prefix of its own. */
export async function useTestRedis(): Promise<TestRedis> {
  const url = await sharedRedisUrl();
  const prefix = `t:${randomBytes(6).toString("hex")}:`;
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  // A failed command rejects where the test awaits it; the event itself only needs a listener.
  client.on("error", () => undefined);
  return {
    url,
    prefix,
    client,
    async cleanup() {
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        cursor = next;
        if (keys.length > 0) await client.unlink(...keys);
      } while (cursor !== "0");
      await client.quit();
    },
  };
}
