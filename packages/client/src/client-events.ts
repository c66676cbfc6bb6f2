import type { ConnectResult } from "@hubcast/protocol";
import type { ErrorEvent } from "./emitter.js";
import type { CloseInfo } from "./errors.js";

/** `disconnected` → `connecting` (socket open + `connect` reply, or waiting to retry) → `connected`. */
export type ClientState = "disconnected" | "connecting" | "connected";

/** Payload of `"state"`: every state change, emitted before the event that explains it. */
export interface StateEvent {
  from: ClientState;
  to: ClientState;
}

/** Payload of `"disconnected"`. `code` is a close code, a disconnect code, an ErrorCode or a {@link LocalCode}. */
export interface DisconnectedEvent extends CloseInfo {
  /** True: the client retries after a backoff (state is `connecting`). False: it stopped (`disconnected`). */
  reconnect: boolean;
}

/** Events of a {@link Client}. */
export interface ClientEvents {
  state: StateEvent;
  /** A connect attempt is about to start: after `connect()` or before each reconnect. */
  connecting: CloseInfo;
  /** The server accepted `connect`; queued commands are sent and subscriptions resubscribe. */
  connected: ConnectResult;
  /** A connection or connect attempt ended; `reconnect` says whether another attempt follows. */
  disconnected: DisconnectedEvent;
  /** Socket errors, unreadable frames, failed connect attempts, listener exceptions. */
  error: ErrorEvent;
}
