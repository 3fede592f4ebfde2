/**
 * Helpers for integration tests: a real Redis per test, private redis-server processes that a
 * test may stop and restart, and built apps run as child processes. Import from spec files only.
 */
export { useTestRedis, sharedRedisUrl, type TestRedis } from "./test-redis";
export {
  startRedisServer,
  answersPing,
  waitForPing,
  type RedisServer,
  type RedisServerOptions,
} from "./redis-server";
export { freePort } from "./free-port";
export { spawnApp, type SpawnAppOptions, type SpawnedApp } from "./spawn-app";
export { startRedisCluster, type RedisCluster, type RedisClusterOptions } from "./redis-cluster";
export { startNpmStart, type NpmStartStack } from "./npm-start";
export { testSettings } from "./test-settings";
export { readHttp2Answer, type Http2Answer } from "./http2-answer";
