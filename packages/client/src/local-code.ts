/**
 * Codes below 100 in SDK events (`connecting`, `disconnected`, `subscribing`, `unsubscribed`)
 * that name a cause on the client side. Codes 100–999 are {@link ErrorCode}s from the server,
 * 1000 and up are WebSocket close codes or `disconnect` push codes.
 */
export const LocalCode = {
  /** The app called `connect()` / `subscribe()`. */
  connectCalled: 0,
  /** The app called `disconnect()` / `unsubscribe()`. */
  disconnectCalled: 1,
  /** No frame at all from the server for 2× its ping interval plus a grace: the link is dead. */
  noPing: 2,
  /** Socket open plus `connect` reply took longer than `timeoutMs`. */
  connectTimeout: 3,
  /** A `subscribe` got no reply in time; reconnecting resynchronises every subscription. */
  subscribeTimeout: 4,
  /** An `unsubscribe` failed, so client and server may disagree; reconnecting resynchronises. */
  unsubscribeFailed: 5,
  /** `getToken()` rejected, or the connection (its WebSocket, its stream) could not be created. */
  transportFailed: 6,
  /** Connected on a fallback transport, the client saw a WebSocket open again and reconnects over it. */
  websocketAvailable: 7,
  /**
   * A publication delta did not apply (checksum mismatch, nothing to apply it to): the
   * subscription resubscribes from its last position, so nothing corrupt reaches the app.
   */
  deltaFailed: 8,
} as const;
export type LocalCode = (typeof LocalCode)[keyof typeof LocalCode];
