import type { PayloadFields } from "../payload.js";
import type { PusherApp } from "../pusher/app.js";

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
  /** Path (and query) on the API URL, e.g. `/api/publish`. */
  path: string;
  /** JSON body. */
  body: string;
  /** Headers besides content-type and content-length (authorization). */
  headers: Readonly<Record<string, string>>;
}

/** The credentials the options give for the server API; an adapter takes what its API needs. */
export interface ApiAuth {
  /** Hubcast's server API key (`--api-key`). */
  readonly apiKey: string | undefined;
  /** The Pusher app (`--pusher-app`), with `--protocol pusher`. */
  readonly pusherApp: PusherApp | undefined;
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
   * The server speaks first (Pusher's `connection_established`): with `connect` returning
   * undefined, the connection counts as connected when the greeting arrives, which `parse`
   * reports as the reply to id 1. @default false: usable at once
   */
  readonly serverGreets?: boolean;
  /**
   * What joins `--namespace` and a channel's own name (`bench:fanout-0`), for protocols whose
   * channel names cannot hold `:`. @default ":"
   */
  readonly namespaceSeparator?: string;
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
  apiPublish?(channel: string, data: string, auth: ApiAuth): ApiPublishRequest;
  /** Most publications one API request may carry with these credentials (a batch API). @default 1 */
  apiBatchLimit?(auth: ApiAuth): number;
  /** One API request publishing every item of `data` to `channel`, in order (when {@link apiBatchLimit} > 1). */
  apiPublishBatch?(channel: string, data: readonly string[], auth: ApiAuth): ApiPublishRequest;
  /**
   * A hint for a refused API publish (`status`, the answer's start `body`), or undefined.
   * `auth` says which API was asked.
   */
  explainApiError?(event: { status: number; body: string; auth: ApiAuth }): string | undefined;
  /**
   * Whether a connection closed with `closeCode` before it was ready was sent away for now
   * (admission control) and should come back after a pause. @default code 3008 (try_later)
   */
  triesLater?(closeCode: number): boolean;
  /** Scenarios this protocol cannot run, each with the reason (for the usage error). @default none */
  readonly unsupportedScenarios?: Readonly<Record<string, string>>;
  /** A hint that says how to fix a refused subscribe or publish (server config), or undefined. */
  explainError?(event: {
    operation: "connect" | "subscribe" | "publish";
    code: number;
    message: string;
    channel: string;
  }): string | undefined;
}
