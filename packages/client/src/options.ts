import { TRANSPORTS } from "./transports.js";
import type { TransportName } from "./transports.js";

/**
 * The part of the WebSocket API the SDK uses. The browser's `WebSocket` and the `ws` package's
 * both fit. Handlers take `never` so that either implementation's event types are accepted;
 * the SDK reads only `data` from message events and `code`/`reason` from close events.
 */
export interface WebSocketLike {
  /** Set to `"arraybuffer"` by the SDK. */
  binaryType: string;
  /** The WebSocket ready state (0–3). */
  readonly readyState: number;
  /** Called once the socket is open. */
  onopen: ((event: never) => void) | null;
  /** Called per message; the SDK reads `event.data`. */
  onmessage: ((event: never) => void) | null;
  /** Called once closed; the SDK reads `event.code` and `event.reason`. */
  onclose: ((event: never) => void) | null;
  /** Called on a socket error. */
  onerror: ((event: never) => void) | null;
  /** Sends one text (string) or binary frame. */
  send(data: string | Uint8Array): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
}

/** A WebSocket class: `new (url, protocols)`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** How a {@link Client} connects and retries. */
export interface ClientOptions {
  /** Credentials (a JWT) sent in `connect`; ignored when `getToken` is given. Without either, `connect` carries no token. */
  token?: string;
  /**
   * Called before every connect attempt for fresh credentials; a rejection counts as a failed
   * attempt. When the server says the token expires (`expiresAt`), also called before then
   * (at 90% of the remaining lifetime, at least 1 s early) to send `refresh`, retried with
   * backoff until expiry. With it, a connect refused as `token_expired` (113) is retried.
   */
  getToken?: () => Promise<string>;
  /** Client name sent in `connect`, for server logs. */
  name?: string;
  /** Client version sent in `connect`, for server logs. */
  version?: string;
  /**
   * The WebSocket class. @default globalThis.WebSocket (browsers, Node ≥ 22); on older Node
   * pass `WebSocket` from the `ws` package. Needed only when `transports` has `"websocket"`.
   */
  websocket?: WebSocketConstructor;
  /**
   * The transports to try, in order of preference: `"websocket"`; `"http-stream"` (a `fetch`
   * whose response streams the node's frames, commands sent by POST); `"sse"` (an
   * `EventSource`, commands sent by POST). The last two are for networks that break
   * WebSockets, and speak JSON whatever `protocol` says. A transport the environment lacks
   * (`EventSource` outside browsers) is skipped. When an attempt ends before the node answered,
   * the next one tries the next transport at once; a whole round of failures waits a backoff.
   * A transport that worked is kept for reconnects, with backoff (a restarting node fails them
   * all), until five attempts in a row fail; while connected on a fallback,
   * the client checks whether a WebSocket opens (5 s after connecting, then every
   * `websocketRetryMs`), and if so reconnects over it. `client.transport` and the `"transport"` event tell which one is in use.
   * @default ["websocket", "http-stream", "sse"]
   */
  transports?: readonly TransportName[];
  /**
   * The node's emulation endpoint for `"http-stream"` and `"sse"`. @default the client's URL
   * with `http(s):` for `ws(s):` and its last path segment replaced: `wss://host/ws` →
   * `https://host/emulation`
   */
  emulationUrl?: string;
  /**
   * Where `"http-stream"` and `"sse"` POST their frames; any node of the cluster will do (it
   * forwards them to the node serving the stream). @default emulationUrl + "/send"
   */
  emulationSendUrl?: string;
  /**
   * While connected on a fallback transport, how often the client checks whether a WebSocket
   * opens (it is closed at once), and reconnects over WebSocket when it does. In ms.
   * @default 120_000
   */
  websocketRetryMs?: number;
  /**
   * Bound on every command, from the call until its reply, including any wait for a
   * connection; also bounds socket open plus `connect` reply. In ms. @default 5000
   */
  timeoutMs?: number;
  /** Reconnect backoff base, in ms: the first retry waits up to this long. @default 200 */
  minReconnectDelayMs?: number;
  /** Reconnect backoff cap, in ms. @default 20_000 */
  maxReconnectDelayMs?: number;
  /** Uniform random numbers in [0, 1) for backoff jitter; for tests. @default Math.random */
  random?: () => number;
  /**
   * The wire encoding: `"json"` (subprotocol `hubcast.v1.json`, text frames) or `"protobuf"`
   * (`hubcast.v1.protobuf`, binary frames, smaller and faster to parse). Publication data
   * reaches the app as the same decoded JSON value either way. `"protobuf"` needs the `Client`
   * of `@hubcast/client/protobuf` (`/sdk/hubcast-protobuf.js` in a page); the `Client` of
   * `@hubcast/client` speaks JSON only and refuses it at construction. @default "json"
   */
  protocol?: WireProtocol;
  /**
   * Most times one `publish` call is sent: a publish whose connection closed after sending, or
   * that the server answered 114 `outcome_unknown` or 100 `internal`, is sent again with the
   * same idempotency key, so it is published at most once. 1 turns resends off. Each attempt
   * has its own `timeoutMs`. @default 3
   */
  publishAttempts?: number;
}

/** The wire encodings a {@link Client} can speak. */
export const WIRE_PROTOCOLS = ["json", "protobuf"] as const;
/** `"json"` or `"protobuf"`; see {@link ClientOptions.protocol}. */
export type WireProtocol = (typeof WIRE_PROTOCOLS)[number];

/** {@link ClientOptions} after defaults and checks. */
export interface ResolvedClientOptions {
  /** {@link ClientOptions.token}, or `undefined`. */
  readonly token: string | undefined;
  /** {@link ClientOptions.getToken}, or `undefined`. */
  readonly getToken: (() => Promise<string>) | undefined;
  /** {@link ClientOptions.name}, or `undefined`. */
  readonly name: string | undefined;
  /** {@link ClientOptions.version}, or `undefined`. */
  readonly version: string | undefined;
  /** {@link ClientOptions.websocket} or the global WebSocket; `undefined` only when `transports` has no `"websocket"`. */
  readonly websocket: WebSocketConstructor | undefined;
  /** {@link ClientOptions.transports}. */
  readonly transports: readonly TransportName[];
  /** {@link ClientOptions.emulationUrl}, or `undefined` (derived from the client's URL). */
  readonly emulationUrl: string | undefined;
  /** {@link ClientOptions.emulationSendUrl}, or `undefined` (derived from the stream URL). */
  readonly emulationSendUrl: string | undefined;
  /** {@link ClientOptions.websocketRetryMs}, in ms. */
  readonly websocketRetryMs: number;
  /** {@link ClientOptions.timeoutMs}, in ms. */
  readonly timeoutMs: number;
  /** {@link ClientOptions.minReconnectDelayMs}, in ms. */
  readonly minReconnectDelayMs: number;
  /** {@link ClientOptions.maxReconnectDelayMs}, in ms. */
  readonly maxReconnectDelayMs: number;
  /** {@link ClientOptions.random}. */
  readonly random: () => number;
  /** {@link ClientOptions.protocol}. */
  readonly protocol: WireProtocol;
  /** {@link ClientOptions.publishAttempts}. */
  readonly publishAttempts: number;
}

function defaultWebSocket(): WebSocketConstructor | undefined {
  const candidate: unknown = (globalThis as { WebSocket?: unknown }).WebSocket;
  return typeof candidate === "function" ? (candidate as WebSocketConstructor) : undefined;
}

function checkPositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive finite number of milliseconds, got ${value}`);
  }
}

function checkOptionalType(name: string, value: unknown, type: "string" | "function"): void {
  if (value !== undefined && typeof value !== type) {
    throw new TypeError(`${name} must be a ${type} when given, got ${typeof value}`);
  }
}

function checkTransports(transports: unknown): void {
  const names = TRANSPORTS.map((name) => `"${name}"`).join(", ");
  const list = Array.isArray(transports) ? (transports as unknown[]) : [];
  const bad = list.find((name) => !(TRANSPORTS as readonly unknown[]).includes(name));
  if (list.length === 0 || bad !== undefined || new Set(list).size !== list.length) {
    const problem =
      bad !== undefined ? `${JSON.stringify(bad)} is not one` : list.length === 0 ? "at least one" : "each once";
    throw new TypeError(
      `transports must be a non-empty array of ${names} in order of preference (${problem}), got ${JSON.stringify(transports)}`,
    );
  }
}

/** Applies defaults with `??`, validates, and freezes. Throws a TypeError naming the bad option. */
export function resolveClientOptions(opts: ClientOptions = {}): ResolvedClientOptions {
  checkOptionalType("token", opts.token, "string");
  checkOptionalType("getToken", opts.getToken, "function");
  checkOptionalType("name", opts.name, "string");
  checkOptionalType("version", opts.version, "string");
  checkOptionalType("websocket", opts.websocket, "function");
  checkOptionalType("random", opts.random, "function");
  checkOptionalType("emulationUrl", opts.emulationUrl, "string");
  checkOptionalType("emulationSendUrl", opts.emulationSendUrl, "string");
  const transports = opts.transports ?? TRANSPORTS;
  checkTransports(transports);
  const websocket = opts.websocket ?? defaultWebSocket();
  if (websocket === undefined && transports.includes("websocket")) {
    throw new TypeError(
      "websocket: globalThis.WebSocket is missing; pass { websocket: WebSocket } from the 'ws' package on Node < 22, or leave \"websocket\" out of transports",
    );
  }
  const o: ResolvedClientOptions = {
    token: opts.token,
    getToken: opts.getToken,
    name: opts.name,
    version: opts.version,
    websocket,
    transports: Object.freeze([...transports]),
    emulationUrl: opts.emulationUrl,
    emulationSendUrl: opts.emulationSendUrl,
    websocketRetryMs: opts.websocketRetryMs ?? 120_000,
    timeoutMs: opts.timeoutMs ?? 5000,
    minReconnectDelayMs: opts.minReconnectDelayMs ?? 200,
    maxReconnectDelayMs: opts.maxReconnectDelayMs ?? 20_000,
    random: opts.random ?? Math.random,
    protocol: opts.protocol ?? "json",
    publishAttempts: opts.publishAttempts ?? 3,
  };
  if (!(WIRE_PROTOCOLS as readonly unknown[]).includes(o.protocol)) {
    throw new TypeError(
      `protocol must be one of ${WIRE_PROTOCOLS.map((p) => `"${p}"`).join(", ")}, got ${JSON.stringify(o.protocol)}`,
    );
  }
  checkPositive("timeoutMs", o.timeoutMs);
  checkPositive("websocketRetryMs", o.websocketRetryMs);
  if (!Number.isInteger(o.publishAttempts) || o.publishAttempts < 1 || o.publishAttempts > 10) {
    throw new TypeError(`publishAttempts must be an integer from 1 to 10, got ${o.publishAttempts}`);
  }
  checkPositive("minReconnectDelayMs", o.minReconnectDelayMs);
  checkPositive("maxReconnectDelayMs", o.maxReconnectDelayMs);
  if (o.maxReconnectDelayMs < o.minReconnectDelayMs) {
    throw new TypeError(
      `maxReconnectDelayMs (${o.maxReconnectDelayMs}) must be at least minReconnectDelayMs (${o.minReconnectDelayMs})`,
    );
  }
  return Object.freeze(o);
}
