export { DEFAULT_IDEMPOTENCY_WINDOW_MS, DEFAULT_MAX_DATA_BYTES, InvalidDataError, RedisEmitter } from "./emitter.js";
export type { EmitterHistoryOptions, EmitterOptions, EmitterPublishOptions } from "./emitter.js";
export { RedisKeys } from "./keys.js";
export {
  CLOSE_TIMEOUT_MS,
  COMMAND_TIMEOUT_MS,
  FIRST_CONNECT_TIMEOUT_MS,
  RedisCommandTimeoutError,
  RedisUnavailableError,
  closeWithin,
  connectRedis,
  firstConnect,
  reconnectDelayMs,
} from "./connection.js";
export type { RedisClient, RedisClusterClient, RedisConnection, RedisNodeAddress, RedisTarget } from "./connection.js";
export { decodeBrokerMessage, encodeJoinLeave, encodePlainPublication } from "./messages.js";
export type { BrokerMessage } from "./messages.js";
export {
  MAX_IDEMPOTENCY_KEY_LENGTH,
  PublishDeadlineError,
  publishNotMade,
  publishThroughRedis,
  newEpoch,
} from "./publish.js";
export type { HistoryPolicy, PublicationInput, PublishRetryOptions } from "./publish.js";
export {
  EXPIRING_SET_ADD,
  EXPIRING_SET_REMOVE,
  EXPIRING_SET_VALUES,
  PUBLISH,
  PUBLISH_PLAIN,
  READ_HISTORY,
  Script,
} from "./scripts.js";
export type { RedisCommander } from "./scripts.js";
