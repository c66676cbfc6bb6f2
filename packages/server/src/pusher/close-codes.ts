/**
 * Pusher's close codes (4000–4299) and how Hubcast's catalogue codes map onto them, so a
 * Pusher client reconnects exactly when a native client would: 4000–4099 are final, 4100–4199
 * reconnect after a back-off, 4200–4299 reconnect at once.
 */
import { CloseCode, shouldReconnect } from "@hubcast/protocol";

export const PusherClose = {
  /** The app key is not configured on this deployment. */
  appNotFound: 4001,
  /** The app is disabled (`enabled: false`). */
  appDisabled: 4003,
  /** The app holds its `maxConnections` on this node. */
  overQuota: 4004,
  /** The `protocol` query parameter names a version this server does not speak (5 to 7 are spoken). */
  unsupportedProtocol: 4007,
  /** No `protocol` query parameter. */
  noProtocol: 4008,
  /** Not authorized: a bad `pusher:signin`, or the app ended the user's connections (terminate_connections). */
  unauthorized: 4009,
  /** Reconnect after a back-off: the node is over capacity (admission, limits, a slow consumer). */
  overCapacity: 4100,
  /** Reconnect at once (the node drains or shuts down). */
  reconnect: 4200,
  /** Reconnect at once: the client did not answer a `pusher:ping`. */
  pongNotReceived: 4201,
  /** Reconnect at once: closed after inactivity. */
  inactive: 4202,
} as const;
export type PusherClose = (typeof PusherClose)[keyof typeof PusherClose];

/** Client events faster than the app's `maxClientEventsPerSecond`: the event is refused (`pusher:error`), the connection stays. */
export const CLIENT_EVENT_RATE_LIMITED = 4301;

/** The Pusher close code for a Hubcast catalogue close code. Codes already in 4000–4999 pass through. */
export function pusherCloseCode(code: number): number {
  if (code >= 4000 && code < 5000) return code;
  switch (code) {
    case CloseCode.shutdown:
      return PusherClose.reconnect;
    case CloseCode.noPong:
      return PusherClose.pongNotReceived;
    case CloseCode.idle:
      return PusherClose.inactive;
    case CloseCode.forceDisconnect:
      return PusherClose.unauthorized;
    default:
      // A slow consumer, the rate limit, load shedding, a server fault: back off, then reconnect.
      return shouldReconnect(code) ? PusherClose.overCapacity : PusherClose.unauthorized;
  }
}
