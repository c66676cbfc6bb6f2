/**
 * The one catalogue of error codes (in `error` replies) and close codes (on the WebSocket),
 * shared by server and SDK. `docs/protocol.md` documents the same table; a test keeps them in step.
 */

/** Error codes carried by `error` replies. `temporary: true` means the same command may succeed later. */
export const ErrorCode = {
  internal: 100,
  unauthorized: 101,
  unknownChannel: 102,
  permissionDenied: 103,
  methodNotFound: 104,
  alreadySubscribed: 105,
  limitExceeded: 106,
  badRequest: 107,
  notAvailable: 108,
  notConnected: 109,
  alreadyConnected: 110,
  timeout: 111,
  tooManyRequests: 112,
  tokenExpired: 113,
  outcomeUnknown: 114,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** What each error code means, and whether retrying the same command can succeed. */
export const errorCatalogue: Readonly<Record<ErrorCode, { name: string; temporary: boolean; meaning: string }>> = {
  100: { name: "internal", temporary: true, meaning: "The server failed to handle the command; retry later." },
  101: {
    name: "unauthorized",
    temporary: false,
    meaning: "The connection is not allowed to do this (anonymous, or bad credentials).",
  },
  102: {
    name: "unknown_channel",
    temporary: false,
    meaning: "The channel's namespace is not configured, or the name breaks the channel rules.",
  },
  103: {
    name: "permission_denied",
    temporary: false,
    meaning: "The namespace does not allow this operation from a client.",
  },
  104: { name: "method_not_found", temporary: false, meaning: "The command names no known method." },
  105: {
    name: "already_subscribed",
    temporary: false,
    meaning: "This connection is already subscribed to the channel.",
  },
  106: {
    name: "limit_exceeded",
    temporary: false,
    meaning: "A configured limit was reached (for example subscriptions per connection).",
  },
  107: {
    name: "bad_request",
    temporary: false,
    meaning: "A field is missing or has the wrong type; the message says which.",
  },
  108: {
    name: "not_available",
    temporary: false,
    meaning: "The feature is off for this namespace (history or presence).",
  },
  109: { name: "not_connected", temporary: false, meaning: "Send `connect` first and wait for its reply." },
  110: { name: "already_connected", temporary: false, meaning: "`connect` was already accepted on this connection." },
  111: { name: "timeout", temporary: true, meaning: "SDK only: no reply arrived within the command timeout." },
  112: {
    name: "too_many_requests",
    temporary: true,
    meaning: "The connection sent commands faster than its rate limit; slow down and retry.",
  },
  113: {
    name: "token_expired",
    temporary: false,
    meaning: "The token has expired; get a fresh one and send it again (`connect` or `refresh`).",
  },
  114: {
    name: "outcome_unknown",
    temporary: true,
    meaning:
      "No answer came from the engine in time: the publish may or may not have been made, and will not be made later. Retry with the same idempotency key.",
  },
};

/** Codes of the `unsubscribe` push: why the server ended a subscription. */
export const UnsubscribeCode = {
  insufficientState: 2000,
} as const;
export type UnsubscribeCode = (typeof UnsubscribeCode)[keyof typeof UnsubscribeCode];

/** What each unsubscribe code means; `resubscribe` is what the push carries. */
export const unsubscribeCatalogue: Readonly<
  Record<UnsubscribeCode, { name: string; resubscribe: boolean; meaning: string }>
> = {
  2000: {
    name: "insufficient_state",
    resubscribe: true,
    meaning:
      "The node lost publications it could not restore from history (broker outage, flushed store); resubscribe with `since` to recover or learn `recovered: false`.",
  },
};

/**
 * WebSocket close codes used by Hubcast. Codes x000–x499 ask the client to reconnect,
 * x500–x999 are final (3xxx server, 4xxx application). 1xxx codes are the standard ones.
 */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  invalidPayload: 1007,
  messageTooBig: 1009,
  shutdown: 3000,
  serverError: 3001,
  noPong: 3002,
  slowConsumer: 3003,
  connectTimeout: 3004,
  tokenExpired: 3005,
  rateLimited: 3006,
  idle: 3007,
  tryLater: 3008,
  connectionLimit: 3009,
  badRequest: 3500,
  forceDisconnect: 3501,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** What each close code means; `reconnect` follows from {@link shouldReconnect}. */
export const closeCatalogue: Readonly<Record<CloseCode, { name: string; meaning: string }>> = {
  1000: { name: "normal", meaning: "Closed on purpose by the client or the server." },
  1001: { name: "going_away", meaning: "The peer is going away (browser tab closed, server stopping without drain)." },
  1002: {
    name: "protocol_error",
    meaning:
      "The client broke the WebSocket protocol (an unmasked frame, reserved bits or opcodes, a bad fragment sequence or control frame); the close reason names the fault.",
  },
  1007: {
    name: "invalid_payload",
    meaning: "A text message was not valid UTF-8, or a compressed message did not inflate.",
  },
  1009: {
    name: "message_too_big",
    meaning: "A message was larger than the server's maxMessageBytes (after inflating, when compressed).",
  },
  3000: {
    name: "shutdown",
    meaning: "The node is shutting down, or cannot serve (unready past unreadyDrainGraceMs); reconnect (to any node).",
  },
  3001: { name: "server_error", meaning: "The node hit an internal error for this connection; reconnect." },
  3002: { name: "no_pong", meaning: "The client did not answer a ping within pongTimeoutMs." },
  3003: {
    name: "slow_consumer",
    meaning:
      "The connection made the node hold more than maxConnectionBytes, mostly output a client reads too slowly; reconnect and recover.",
  },
  3004: {
    name: "connect_timeout",
    meaning: "No `connect` command arrived within connectTimeoutMs of the socket opening.",
  },
  3005: {
    name: "token_expired",
    meaning: "The connection's token expired and was not refreshed; reconnect with a fresh token.",
  },
  3006: {
    name: "rate_limited",
    meaning: "The client kept sending commands over its rate limit; reconnect after a backoff.",
  },
  3007: { name: "idle", meaning: "The connection held no subscription for idleTimeoutMs." },
  3008: {
    name: "try_later",
    meaning:
      "The node is admitting connections at its limit; reconnect after the `retryAfterMs` of the disconnect push.",
  },
  3009: {
    name: "connection_limit",
    meaning: "The user or IP address already holds as many connections as allowed; reconnect after a backoff.",
  },
  3500: {
    name: "bad_request",
    meaning: "A frame could not be parsed as a command (not JSON, no valid id); fix the client.",
  },
  3501: {
    name: "force_disconnect",
    meaning: "The server disconnected the client on purpose and asks it not to come back.",
  },
};

/** Close codes x000–x499 ask the client to reconnect, x500–x999 are final (3xxx server, 4xxx app). */
export const shouldReconnect = (closeCode: number): boolean => closeCode < 3000 || closeCode % 1000 < 500;
