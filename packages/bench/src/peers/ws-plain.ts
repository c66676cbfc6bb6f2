import { decodePayload } from "../payload.js";
import { Incoming } from "./adapter.js";
import type { IncomingFrame, ProtocolAdapter } from "./adapter.js";

const QUOTE = 0x22;
const DATA_MARKER = Buffer.from(',"data":');
const ID_PREFIX = Buffer.from('{"id":');
const ERROR_MARKER = Buffer.from(',"error":');

function readId(payload: Buffer, start: number): number {
  let value = 0;
  for (let i = start; i < payload.length; i++) {
    const c = payload[i] as number;
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
  }
  return value;
}

function parseReply(payload: Buffer, out: IncomingFrame): Incoming {
  out.id = readId(payload, ID_PREFIX.length);
  if (payload.indexOf(ERROR_MARKER, ID_PREFIX.length) < 0) return Incoming.reply;
  const body: unknown = JSON.parse(payload.toString("utf8"));
  const error = typeof body === "object" && body !== null ? (body as Record<string, unknown>)["error"] : undefined;
  out.errorCode = 0;
  out.message = typeof error === "string" ? error : "error";
  return Incoming.error;
}

/**
 * The tiny JSON protocol of the plain `ws` peer servers (bench/peers/ws-redis-server.mjs and
 * ws-frame-once-server.mjs): no connect step; `{"id":n,"subscribe":channel}` and
 * `{"id":n,"publish":channel,"data":…}` are answered by `{"id":n}` (or
 * `{"id":n,"error":"…"}`); publications arrive as `{"channel":…,"data":…}` with `data` last.
 * Heartbeats are WebSocket pings, which the bench's client answers itself.
 */
export const wsPlainAdapter: ProtocolAdapter = {
  name: "ws-plain",
  description: "the JSON protocol of the plain ws peer servers in bench/peers (subscribe/publish with ids)",
  subprotocol: undefined,
  publishReplies: true,

  connect: () => undefined,
  subscribe: (channel, id) => `{"id":${id},"subscribe":${JSON.stringify(channel)}}`,
  publish: (channel, data, id) => `{"id":${id},"publish":${JSON.stringify(channel)},"data":${data}}`,

  parse(payload, out) {
    if (payload[0] !== 0x7b || payload[1] !== QUOTE) return Incoming.other;
    if (payload[2] === 0x63 /* c: {"channel":… */) {
      const at = payload.lastIndexOf(DATA_MARKER);
      return at > 0 && decodePayload(payload, at + DATA_MARKER.length, out) ? Incoming.publication : Incoming.other;
    }
    if (payload.compare(ID_PREFIX, 0, ID_PREFIX.length, 0, ID_PREFIX.length) === 0) return parseReply(payload, out);
    return Incoming.other;
  },

  explainError({ operation, message }) {
    return `the ws peer server refused ${operation} (${message}); is it reachable and is its Redis (--redis-url) up?`;
  },
};
