import type { WsEnd, WsListener } from "./ws/connection.js";

/**
 * How bench connections reach the server: `websocket` (`/ws`), or one of Hubcast's two-way
 * emulations for networks that break WebSockets (docs/transports.md): `http-stream`
 * (`POST /emulation`, NDJSON down) and `sse` (`GET /emulation?connect=…`, Server-Sent Events
 * down); both send the client's frames up by `POST /emulation/send`.
 */
export const Transport = {
  websocket: "websocket",
  httpStream: "http-stream",
  sse: "sse",
} as const;
export type Transport = (typeof Transport)[keyof typeof Transport];

/** Every `--transport` value, in the order `--help` lists them. */
export const TRANSPORTS: readonly Transport[] = Object.values(Transport);

/** How a link ended: a WebSocket's end, or an emulated stream's, which may ask to come back later. */
export interface LinkEnd extends WsEnd {
  /** Set when the server refused the connection for now (HTTP 503 with Retry-After): try again after this. */
  retryAfterMs?: number;
}

/** What a {@link Link} reports to its owner: opened, one text message at a time, ended once. */
export interface LinkListener extends WsListener {
  onEnd(end: LinkEnd): void;
}

/**
 * One client connection whatever carries it: WebSocket ({@link WsConnection}) or an emulated
 * stream ({@link EmulationConnection}). Sends are text frames of the server's protocol.
 */
export interface Link {
  /** Bytes queued in user space, not yet handed to the kernel (or, emulated, not yet POSTed). */
  readonly bufferedBytes: number;
  /** Sends one frame; ignored unless open. Returns false when it is buffered rather than sent at once. */
  sendText(text: string): boolean;
  /** Closes; the listener's `onEnd` follows. */
  close(): void;
}
