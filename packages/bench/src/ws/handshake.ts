import { createHash, randomBytes } from "node:crypto";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;

/** Where a WebSocket connection goes, parsed once and shared by every connection to it. */
export interface WsTarget {
  /** The URL as given, for messages. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  /** Path and query of the request line. */
  readonly path: string;
  /** The Host header value. */
  readonly hostHeader: string;
}

/** Parses a `ws://` or `wss://` URL (`http(s)://` is accepted as the same); throws TypeError naming the problem. */
export function parseWsTarget(url: string): WsTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`"${url}" is not a URL; give one like ws://127.0.0.1:8080/ws`);
  }
  const secure = u.protocol === "wss:" || u.protocol === "https:";
  if (!secure && u.protocol !== "ws:" && u.protocol !== "http:") {
    throw new TypeError(`"${url}" must start with ws:// or wss://`);
  }
  const port = u.port === "" ? (secure ? 443 : 80) : Number(u.port);
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return { url, host, port, secure, path: `${u.pathname}${u.search}`, hostHeader: u.host };
}

/** The HTTP upgrade request and the `Sec-WebSocket-Accept` value the server must answer with. */
export function handshakeRequest(
  target: WsTarget,
  subprotocol: string | undefined,
): { request: string; accept: string } {
  const key = randomBytes(16).toString("base64");
  const accept = createHash("sha1")
    .update(key + GUID)
    .digest("base64");
  const protocolLine = subprotocol === undefined ? "" : `Sec-WebSocket-Protocol: ${subprotocol}\r\n`;
  const request =
    `GET ${target.path} HTTP/1.1\r\nHost: ${target.hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${protocolLine}\r\n`;
  return { request, accept };
}

/** What came of reading the upgrade response so far. */
export type HandshakeOutcome =
  | { kind: "incomplete" }
  | { kind: "open"; rest: Buffer }
  | { kind: "refused"; message: string };

/**
 * Reads the server's upgrade response from `head` (all bytes received so far). `open` hands
 * back the bytes after the response head: the first frames may share its TCP segment.
 */
export function readHandshakeResponse(
  head: Buffer,
  expectedAccept: string,
  subprotocol: string | undefined,
): HandshakeOutcome {
  const end = head.indexOf("\r\n\r\n");
  if (end < 0) {
    return head.length > MAX_RESPONSE_HEAD_BYTES
      ? { kind: "refused", message: "upgrade response head is too long" }
      : { kind: "incomplete" };
  }
  const lines = head.toString("latin1", 0, end).split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (status === null)
    return { kind: "refused", message: `not an HTTP response: ${JSON.stringify((lines[0] ?? "").slice(0, 80))}` };
  if (status[1] !== "101") {
    const body = head
      .toString("utf8", end + 4)
      .trim()
      .slice(0, 200);
    return { kind: "refused", message: `HTTP ${lines[0]?.slice(9) ?? status[1]}${body === "" ? "" : `: ${body}`}` };
  }
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (headers.get("sec-websocket-accept") !== expectedAccept)
    return { kind: "refused", message: "wrong Sec-WebSocket-Accept in the upgrade response" };
  const chosen = headers.get("sec-websocket-protocol");
  if (chosen !== undefined && chosen !== subprotocol)
    return { kind: "refused", message: `server chose subprotocol "${chosen}", which was not offered` };
  if (headers.has("sec-websocket-extensions"))
    return { kind: "refused", message: "server enabled an extension that was not offered" };
  return { kind: "open", rest: head.subarray(end + 4) };
}
