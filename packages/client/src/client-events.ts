import type { ConnectResult } from "@hubcast/protocol";
import type { ErrorEvent } from "./emitter.js";
import type { CloseInfo } from "./errors.js";
import type { TransportName } from "./transports.js";

/**
 * `disconnected` → `connecting` (socket open + `connect` reply, or waiting to retry) → `connected`.
 * - `"disconnected"`: not connected and not trying: before `connect()`, after `disconnect()`, or
 *   after a final close (a refused token, a close code from x500 up). Commands reject at once
 *   after a final close; before the first `connect()` they wait.
 * - `"connecting"`: an attempt is under way or a reconnect is waiting for its backoff. Commands
 *   wait (each within `timeoutMs`) and are sent once connected.
 * - `"connected"`: the server accepted `connect`; commands go out at once.
 */
export type ClientState = "disconnected" | "connecting" | "connected";

/** Payload of `"state"`: every state change, emitted before the event that explains it. */
export interface StateEvent {
  /** The state left. */
  from: ClientState;
  /** The state entered; equal to `client.state` while listeners run. */
  to: ClientState;
}

/** Payload of `"disconnected"`. `code` is a close code, a disconnect code, an ErrorCode or a {@link LocalCode}. */
export interface DisconnectedEvent extends CloseInfo {
  /** True: the client retries after a backoff (state is `connecting`). False: it stopped (`disconnected`). */
  reconnect: boolean;
}

/** Payload of `"transport"`: a connection opened on another transport than the last connection's. */
export interface TransportEvent {
  /** The last connection's transport; `undefined` on the first connection. */
  from: TransportName | undefined;
  /** This connection's transport; equal to `client.transport` while listeners run. */
  to: TransportName;
}

/**
 * Events of a {@link Client}: the keys are event names, the values their payloads, for
 * `client.on(name, (payload) => …)`. Listeners run synchronously, in the order added.
 */
export interface ClientEvents {
  /** Every state change, `{ from, to }`, emitted before the event that explains it. */
  state: StateEvent;
  /**
   * A connect attempt is about to start: after `connect()` (code {@link LocalCode.connectCalled})
   * or, right after a `disconnected` with `reconnect: true`, with that close's code and reason.
   */
  connecting: CloseInfo;
  /**
   * The connection about to be announced by `"connected"` runs on another transport than the
   * last one: the first connection, a fallback (WebSockets fail here), or back to WebSocket.
   */
  transport: TransportEvent;
  /** The server accepted `connect`; queued commands are sent and subscriptions resubscribe. */
  connected: ConnectResult;
  /** A connection or connect attempt ended; `reconnect` says whether another attempt follows. */
  disconnected: DisconnectedEvent;
  /**
   * `{ error }`: a socket error, an unreadable frame, a failed connect attempt (a
   * {@link HubcastError} from the server, a {@link TimeoutError}, or what `getToken` rejected
   * with), a failed token refresh (retried until the token expires), or an exception thrown by
   * one of this client's listeners. Informational: the state events say whether the client
   * reconnects. With no listener it is written to `console.error`.
   */
  error: ErrorEvent;
}
