export {
  createRedisClient,
  readyOrTimeout,
  type RedisClient,
  type RedisClientOptions,
} from "./client";
export {
  agreePubSubMode,
  createSubscriber,
  detectPubSubMode,
  pubSubModeKey,
  type PubSubSetting,
  publishCommand,
  subscriberOf,
  type PubSubMode,
  type Subscriber,
} from "./pubsub";
export { describeRedisTarget, parseRedisUrl, redisTarget, type RedisTarget } from "./redis-url";
export {
  agreeDeploymentSettings,
  deploymentSettingsKey,
  type AgreeOptions,
} from "./deployment-settings";
export { watchConnections, type WatchConnectionsOptions } from "./watch-connections";
export {
  guardRedisCalls,
  isTransportFailure,
  isWrongType,
  redisError,
  RedisUnavailableError,
  writeRefusal,
  type WriteRefusal,
} from "./errors";
