/**
 * The ways a {@link Client} can reach a node, in the default order of preference: a WebSocket;
 * HTTP-streaming (a `fetch` whose response body streams the node's frames, commands sent by
 * POST); Server-Sent Events (an `EventSource`, commands sent by POST). The last two are for
 * networks that break WebSockets (proxies that strip `Upgrade`), and speak JSON.
 */
export const TRANSPORTS = ["websocket", "http-stream", "sse"] as const;
/** `"websocket"`, `"http-stream"` or `"sse"`; see {@link ClientOptions.transports}. */
export type TransportName = (typeof TRANSPORTS)[number];

/** Where the HTTP transports open their stream and where they POST their frames. */
export interface EmulationUrls {
  readonly stream: string;
  readonly send: string;
}

/**
 * The emulation endpoints for a node's WebSocket URL: `ws:` → `http:`, `wss:` → `https:`, and
 * the last path segment (`/ws`) replaced by `emulation`, so `wss://host/hubcast/ws` gives
 * `https://host/hubcast/emulation` and `…/emulation/send`. An explicit stream URL wins, and an
 * explicit send URL wins over `<stream>/send`. Throws a TypeError for a URL it cannot read.
 */
export function emulationUrls(wsUrl: string, stream?: string, send?: string): EmulationUrls {
  let streamUrl = stream;
  if (streamUrl === undefined) {
    const url = new URL(wsUrl);
    url.protocol = url.protocol === "wss:" ? "https:" : "http:";
    url.pathname = url.pathname.replace(/[^/]*$/, "emulation");
    url.search = "";
    url.hash = "";
    streamUrl = url.href;
  }
  const streamParsed = new URL(streamUrl);
  const sendUrl = send ?? `${streamParsed.origin}${streamParsed.pathname.replace(/\/$/, "")}/send`;
  return { stream: streamUrl, send: sendUrl };
}

/**
 * Which transports of `wanted` the environment can run, in order: a WebSocket class is given
 * or global; `fetch` with streaming bodies (`ReadableStream`); a global `EventSource`.
 */
export function transportsAvailable(wanted: readonly TransportName[], hasWebSocket: boolean): TransportName[] {
  const g = globalThis as { fetch?: unknown; ReadableStream?: unknown; EventSource?: unknown };
  const available: Record<TransportName, boolean> = {
    websocket: hasWebSocket,
    "http-stream": typeof g.fetch === "function" && typeof g.ReadableStream === "function",
    sse: typeof g.EventSource === "function" && typeof g.fetch === "function",
  };
  return wanted.filter((name) => available[name]);
}
