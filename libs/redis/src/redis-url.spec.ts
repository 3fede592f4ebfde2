import { ConfigError } from "@imagesvc/config";
import { describe, expect, it } from "vitest";
import { describeRedisTarget, parseRedisUrl, redisTarget } from "./redis-url";

describe("parseRedisUrl", () => {
  it.each(["redis://127.0.0.1:6379", "rediss://user:pw@cache.internal:6380/2"])(
    "takes %s as one server",
    (url) => {
      expect(parseRedisUrl(url)).toEqual({ kind: "single", url });
    },
  );

  it("takes redis+cluster:// as seed nodes, with credentials and IPv6", () => {
    expect(parseRedisUrl("redis+cluster://app:p%40ss@10.0.0.1:7000,[::1]:7001")).toEqual({
      kind: "cluster",
      nodes: [
        { host: "10.0.0.1", port: 7000 },
        { host: "::1", port: 7001 },
      ],
      username: "app",
      password: "p@ss",
      tls: false,
    });
    expect(parseRedisUrl("rediss+cluster://a:1")).toMatchObject({ tls: true });
  });

  it.each([
    ["http://x:1", /REDIS_URL: "http:\/\/x:1" must start with redis:\/\//],
    ["redis+cluster://a", /"a" is not host:port/],
    ["redis+cluster://a:99999", /"a:99999" is not host:port/],
    ["redis+cluster://", /lists no cluster nodes/],
    ["redis://user:secret@[bad", /is not a valid URL/],
  ])("refuses %s, naming the variable and the fix", (url, message) => {
    const error = (() => {
      try {
        parseRedisUrl(url);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain("secret");
  });
});

describe("redisTarget", () => {
  it("defaults to the local Redis", () => {
    expect(redisTarget({ REDIS_URL: "redis://127.0.0.1:6379", REDIS_CLUSTER_NODES: [] })).toEqual({
      kind: "single",
      url: "redis://127.0.0.1:6379",
    });
  });

  it("prefers REDIS_CLUSTER_NODES, taking credentials from a cluster REDIS_URL", () => {
    expect(
      redisTarget({
        REDIS_CLUSTER_NODES: ["a:1", "b:2"],
        REDIS_URL: "rediss+cluster://:pw@a:1",
      }),
    ).toEqual({
      kind: "cluster",
      nodes: [
        { host: "a", port: 1 },
        { host: "b", port: 2 },
      ],
      password: "pw",
      tls: true,
    });
  });

  it("refuses REDIS_CLUSTER_NODES beside a single-server REDIS_URL", () => {
    expect(() => redisTarget({ REDIS_CLUSTER_NODES: ["a:1"], REDIS_URL: "redis://b:2" })).toThrow(
      /REDIS_CLUSTER_NODES: is set together with a single-server REDIS_URL/,
    );
  });
});

describe("describeRedisTarget", () => {
  it("never shows a password", () => {
    expect(describeRedisTarget(parseRedisUrl("redis://u:secret@h:1"))).toBe("redis://u:***@h:1");
    expect(describeRedisTarget(parseRedisUrl("rediss+cluster://u:secret@h:1,[::1]:2"))).toBe(
      "rediss+cluster://u:***@h:1,[::1]:2",
    );
  });
});
