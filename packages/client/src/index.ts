/**
 * Hubcast client SDK: a reconnecting connection ({@link Client}) and channel subscriptions
 * with recovery ({@link Subscription}). Runs in browsers and Node ≥ 20 (pass `ws` on Node < 22).
 * @module
 */
export { Client } from "./client.js";
export type { ClientEvents, ClientState, DisconnectedEvent, StateEvent, TransportEvent } from "./client-events.js";
export { Subscription } from "./subscription.js";
export type {
  HistoryOptions,
  MembersSummaryEvent,
  SubscribedEvent,
  SubscriptionEvents,
  SubscriptionOptions,
  SubscriptionState,
} from "./subscription.js";
export { ClientClosedError, ConnectionClosedError, HubcastError, TimeoutError } from "./errors.js";
export type { CloseInfo, HubcastErrorInit } from "./errors.js";
export { LocalCode } from "./local-code.js";
export { newIdempotencyKey } from "./publish.js";
export type { PublishOptions } from "./publish.js";
export { WIRE_PROTOCOLS, resolveClientOptions } from "./options.js";
export type {
  ClientOptions,
  ResolvedClientOptions,
  WebSocketConstructor,
  WebSocketLike,
  WireProtocol,
} from "./options.js";
export type { WireCodecs } from "./wire-codecs.js";
export { TRANSPORTS } from "./transports.js";
export type { TransportName } from "./transports.js";
export { Backoff, backoffDelayMs } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { Emitter } from "./emitter.js";
export type { EmitterEvents, ErrorEvent, Listener } from "./emitter.js";

export { CloseCode, ErrorCode, shouldReconnect } from "@hubcast/protocol";
export type {
  ClientInfo,
  ConnectResult,
  HistoryResult,
  JoinLeavePush,
  JsonValue,
  MembersPush,
  MembersSummary,
  PresenceResult,
  PresenceStatsResult,
  Publication,
  PublicationPush,
  PublishResult,
  RefreshResult,
  StreamPosition,
  SubscribeResult,
} from "@hubcast/protocol";
