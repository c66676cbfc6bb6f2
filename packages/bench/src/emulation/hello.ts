import type { WsTarget } from "../ws/handshake.js";

const HELLO_PREFIX = '{"emulation":';

/**
 * The stream id in an emulated stream's first message, `{"emulation":{"stream":"<id>"}}`, or
 * undefined when the message is not that line (then the server is no Hubcast emulation).
 */
export function parseHello(message: Buffer): string | undefined {
  if (message.length < HELLO_PREFIX.length || message.toString("latin1", 0, HELLO_PREFIX.length) !== HELLO_PREFIX)
    return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(message.toString("utf8"));
  } catch {
    return undefined;
  }
  const stream = (parsed as { emulation?: { stream?: unknown } }).emulation?.stream;
  return typeof stream === "string" && stream !== "" ? stream : undefined;
}

/**
 * The emulation endpoint beside a WebSocket URL's path: its last segment becomes `emulation`
 * (`/ws` → `/emulation`, `/rt/ws?x` → `/rt/emulation`), so a deployment behind a path prefix
 * keeps it.
 */
export function emulationPath(target: WsTarget): string {
  const query = target.path.indexOf("?");
  const path = query < 0 ? target.path : target.path.slice(0, query);
  return `${path.slice(0, path.lastIndexOf("/") + 1)}emulation`;
}

/** What the response head of `POST /emulation` or `GET /emulation` said. */
export type EmulationHead =
  | { kind: "incomplete" }
  | { kind: "open"; chunked: boolean; rest: Buffer }
  | { kind: "refused"; message: string; retryAfterMs: number | undefined };

const MAX_HEAD_BYTES = 16 * 1024;

/**
 * Reads the response head from `head` (all bytes so far). `open` (200) hands back the bytes
 * after the head, the start of the body; any other status is a refusal, with the body's first
 * bytes (the API's error JSON) and Retry-After when the server sent one.
 */
export function readEmulationHead(head: Buffer): EmulationHead {
  const end = head.indexOf("\r\n\r\n");
  if (end < 0)
    return head.length > MAX_HEAD_BYTES
      ? { kind: "refused", message: "response head is too long", retryAfterMs: undefined }
      : { kind: "incomplete" };
  const lines = head.toString("latin1", 0, end).split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (status === null)
    return {
      kind: "refused",
      message: `not an HTTP response: ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`,
      retryAfterMs: undefined,
    };
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (status[1] !== "200") {
    const body = head
      .toString("utf8", end + 4)
      .trim()
      .slice(0, 200);
    const retryAfter = Number(headers.get("retry-after"));
    return {
      kind: "refused",
      message: `HTTP ${lines[0]?.slice(9) ?? status[1]}${body === "" ? "" : `: ${body}`}`,
      retryAfterMs: status[1] === "503" && retryAfter > 0 ? retryAfter * 1000 : undefined,
    };
  }
  const chunked = /\bchunked\b/i.test(headers.get("transfer-encoding") ?? "");
  return { kind: "open", chunked, rest: head.subarray(end + 4) };
}
