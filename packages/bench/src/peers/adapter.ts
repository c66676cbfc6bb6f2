import type { PayloadFields } from "../payload.js";

/** What one incoming text message turned out to be. */
export const Incoming = {
  /** Anything the bench does not act on (join/leave pushes, unknown frames). */
  other: 0,
  /** A publication carrying a bench payload: `lane`, `seq`, `sentAtUs` are set. */
  publication: 1,
  /** A successful reply to command `id`. */
  reply: 2,
  /** An error reply to command `id`: `errorCode` and `message` are set. */
  error: 3,
  /** An application-level ping: send `answer` back. */
  ping: 4,
  /** The server announces it will close: `closeCode`, `message`, `retryAfterMs` (0 when none). */
  disconnect: 5,
} as const;
export type Incoming = (typeof Incoming)[keyof typeof Incoming];

/** Filled in by {@link ProtocolAdapter.parse}; one object reused for every message. Fields not named by the kind are stale. */
export interface IncomingFrame extends PayloadFields {
  id: number;
  errorCode: number;
  message: string;
  answer: string;
  closeCode: number;
  retryAfterMs: number;
}

/** A fresh {@link IncomingFrame} to reuse. */
export function incomingFrame(): IncomingFrame {
  return { lane: 0, seq: 0, sentAtUs: 0, id: 0, errorCode: 0, message: "", answer: "", closeCode: 0, retryAfterMs: 0 };
}

/** An HTTP request that publishes as the server (the server API). */
export interface ApiPublishRequest {
  /** Path on the API URL, e.g. `/api/publish`. */
  path: string;
  /** JSON body. */
  body: string;
}

/**
 * How the bench speaks a server's protocol over WebSocket. Hubcast's is in `hubcast.ts`;
 * adapters for other servers go beside it and into the registry in `index.ts`. Frames are
 * text; `data` arguments are bench payloads, already JSON string literals (see payload.ts),
 * to embed as they are. Commands carry ids from 1 up, per connection; an adapter whose
 * protocol has no ids returns frames without them and reports replies as it can.
 */
export interface ProtocolAdapter {
  /** Name for `--protocol`. */
  readonly name: string;
  /** One line for `--help`. */
  readonly description: string;
  /** WebSocket subprotocol to offer; none when undefined. */
  readonly subprotocol: string | undefined;
  /**
   * The frame to send once the socket is open, or undefined when the connection is usable at
   * once. With a frame, the connection counts as connected when the reply with `id` arrives.
   */
  connect(id: number): string | undefined;
  /**
   * The frame that subscribes to `channel`. The subscription counts as live when the reply with
   * `id` arrives; return undefined for protocols whose subscribe has no reply (then it counts as
   * live once sent).
   */
  subscribe(channel: string, id: number): string | undefined;
  /** The frame that publishes `data` to `channel`. */
  publish(channel: string, data: string, id: number): string;
  /** Whether `publish` gets a reply with its id (publishers then keep a window of unanswered ones). */
  readonly publishReplies: boolean;
  /** Classifies one text message and fills `out`; must not keep `payload`. */
  parse(payload: Buffer, out: IncomingFrame): Incoming;
  /** The server-side publish request, when the server has an HTTP API; undefined otherwise. */
  apiPublish?(channel: string, data: string): ApiPublishRequest;
  /** A hint that says how to fix a refused subscribe or publish (server config), or undefined. */
  explainError?(event: {
    operation: "connect" | "subscribe" | "publish";
    code: number;
    message: string;
    channel: string;
  }): string | undefined;
}
