import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "./free-port";

export interface RedisServerOptions {
  /** Persist with AOF, so a restart keeps the data (the fault tests need it). Default: false. */
  readonly appendonly?: boolean;
  /** Extra `redis-server` arguments, e.g. `["--cluster-enabled", "yes"]`. Default: none. */
  readonly args?: readonly string[];
}

/** A private `redis-server` child process that a test may stop, kill and start again. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Starts the server if it is not running, and resolves when it answers PING. */
  start(): Promise<void>;
  /** Stops the server with SIGTERM and waits for it to exit (it writes its AOF first). */
  stop(): Promise<void>;
  /** Kills the server with SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** stop() then start() on the same port and data directory. */
  restart(): Promise<void>;
  /** Stops the server for good and removes its data directory. */
  close(): Promise<void>;
}

/**
 * Spawns a private `redis-server` on a free port with its own temporary data directory. Nothing
 * is saved to disk unless `appendonly` is set. Fails clearly if `redis-server` is not on PATH.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "imagesvc-redis-"));
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    options.appendonly === true ? "yes" : "no",
    "--dir",
    dir,
    "--logfile",
    "",
    "--loglevel",
    "warning",
    ...(options.args ?? []),
  ];
  let child: ChildProcess | undefined;

  const exited = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          c.once("exit", () => {
            resolve();
          });
        });

  const halt = async (signal: NodeJS.Signals) => {
    const c = child;
    child = undefined;
    if (c === undefined) return;
    c.kill(signal);
    await exited(c);
  };

  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (child !== undefined) return;
      const c = spawn("redis-server", args, { stdio: ["ignore", "ignore", "pipe"] });
      child = c;
      let stderr = "";
      c.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const failed = new Promise<never>((_, reject) => {
        c.once("error", (e) => {
          reject(new Error(`cannot run redis-server (is it installed and on PATH?): ${e.message}`));
        });
        c.once("exit", (code) => {
          reject(new Error(`redis-server exited with ${String(code)}: ${stderr.trim()}`));
        });
      });
      await Promise.race([waitForPing(server.url), failed]);
    },
    stop: () => halt("SIGTERM"),
    kill: () => halt("SIGKILL"),
    async restart() {
      await server.stop();
      await server.start();
    },
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

/** Resolves once `url` answers PING, retrying for up to `timeoutMs`. */
export async function waitForPing(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await answersPing(url)) return;
    if (Date.now() > deadline)
      throw new Error(`no Redis answered at ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True if a Redis server answers PING at `url` within a short timeout. */
export async function answersPing(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 500,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
