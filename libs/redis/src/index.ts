export {
  createRedisClient,
  readyOrTimeout,
  type RedisClient,
  type RedisClientOptions,
} from "./client";
export {
  createSubscriber,
  detectPubSubMode,
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
