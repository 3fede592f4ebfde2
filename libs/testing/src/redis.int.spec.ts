import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import {
  answersPing,
  startRedisServer,
  useTestRedis,
  type RedisServer,
  type TestRedis,
} from "./index";

describe("useTestRedis", () => {
  let a: TestRedis | undefined;
  let b: TestRedis | undefined;
  afterEach(async () => {
    await a?.cleanup();
    await b?.cleanup();
  });

  it("gives each test its own prefix and removes its keys on cleanup", async () => {
    a = await useTestRedis();
    b = await useTestRedis();
    expect(a.prefix).not.toBe(b.prefix);
    await a.client.set(`${a.prefix}k1`, "1");
    await a.client.set(`${a.prefix}k2`, "2");
    await b.client.set(`${b.prefix}k1`, "3");
    const observer = new Redis(a.url);
    const prefixA = a.prefix;
    await a.cleanup();
    a = undefined;
    expect(await observer.keys(`${prefixA}*`)).toEqual([]);
    expect(await observer.keys(`${b.prefix}*`)).toEqual([`${b.prefix}k1`]);
    await observer.quit();
  });
});

describe("startRedisServer", () => {
  let server: RedisServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("runs a private server that can be stopped and started again on the same port", async () => {
    server = await startRedisServer();
    expect(await answersPing(server.url)).toBe(true);
    await server.stop();
    expect(await answersPing(server.url)).toBe(false);
    await server.start();
    expect(await answersPing(server.url)).toBe(true);
  });

  it("keeps data across a restart with appendonly, and loses it without", async () => {
    server = await startRedisServer({ appendonly: true });
    const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
    await client.set("kept", "yes");
    client.disconnect();
    await server.restart();
    const again = new Redis(server.url);
    expect(await again.get("kept")).toBe("yes");
    await again.quit();
    await server.close();

    server = await startRedisServer();
    const plain = new Redis(server.url, { maxRetriesPerRequest: 1 });
    await plain.set("kept", "yes");
    plain.disconnect();
    await server.restart();
    const fresh = new Redis(server.url);
    expect(await fresh.get("kept")).toBeNull();
    await fresh.quit();
  });
});
