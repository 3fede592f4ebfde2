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
  pubSubSettingFromEnv,
  type PubSubSetting,
  publishCommand,
  subscriberOf,
  type PubSubMode,
  type Subscriber,
} from "./pubsub";
export {
  describeRedisTarget,
  parseRedisUrl,
  redisTargetFromEnv,
  type RedisTarget,
} from "./redis-url";
export { writeRefusal, type WriteRefusal } from "./write-refusal";
