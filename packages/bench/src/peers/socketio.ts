import { decodePayload } from "../payload.js";
import { Incoming } from "./adapter.js";
import type { IncomingFrame, ProtocolAdapter } from "./adapter.js";

/**
 * Engine.IO v4 packet types: the first character of every WebSocket message
 * (github.com/socketio/engine.io-protocol, version 4).
 */
export const EngineIoPacket = {
  open: 0x30,
  close: 0x31,
  ping: 0x32,
  pong: 0x33,
  message: 0x34,
  upgrade: 0x35,
  noop: 0x36,
} as const;
export type EngineIoPacket = (typeof EngineIoPacket)[keyof typeof EngineIoPacket];

/** Socket.IO v5 packet types: the character after an Engine.IO `message` (github.com/socketio/socket.io-protocol). */
export const SocketIoPacket = {
  connect: 0x30,
  disconnect: 0x31,
  event: 0x32,
  ack: 0x33,
  connectError: 0x34,
  binaryEvent: 0x35,
  binaryAck: 0x36,
} as const;
export type SocketIoPacket = (typeof SocketIoPacket)[keyof typeof SocketIoPacket];

/**
 * The id the bench gives a connection's first command, its connect. Socket.IO's CONNECT
 * (`40`) carries no id, so its answer (`40{"sid":…}`, or `44{…}` when refused) is reported
 * as the reply to this id.
 */
export const CONNECT_ID = 1;

/** The event the peer server (bench/peers/socketio-server.mjs) emits for a publication: `42["publication",channel,data]`. */
export const PUBLICATION_EVENT = "publication";

const PUBLICATION_PREFIX = Buffer.from(`42["${PUBLICATION_EVENT}",`);
const COMMA = 0x2c;
const ZERO = 0x30;
const NINE = 0x39;

/** Reads the decimal ack id at `payload[start…]`; -1 when there is none. */
function readAckId(payload: Buffer, start: number): { id: number; end: number } {
  let id = 0;
  let i = start;
  for (; i < payload.length; i++) {
    const c = payload[i] as number;
    if (c < ZERO || c > NINE) break;
    id = id * 10 + (c - ZERO);
  }
  return { id: i === start ? -1 : id, end: i };
}

/** The `message` field of a JSON object or string, or the whole text when it is neither. */
function errorText(json: string): string {
  try {
    const value: unknown = JSON.parse(json);
    if (typeof value === "string") return value;
    if (typeof value === "object" && value !== null) {
      const record = value as Record<string, unknown>;
      const text = record["error"] ?? record["message"];
      if (typeof text === "string") return text;
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return json;
}

/** Classifies a Socket.IO packet (the Engine.IO `message` body, from `payload[1]` on) in the default namespace. */
function parseSocketIo(payload: Buffer, out: IncomingFrame): Incoming {
  switch (payload[1]) {
    case SocketIoPacket.event: {
      if (
        payload.length <= PUBLICATION_PREFIX.length ||
        payload.compare(PUBLICATION_PREFIX, 0, PUBLICATION_PREFIX.length, 0, PUBLICATION_PREFIX.length) !== 0
      )
        return Incoming.other;
      // The data is the last argument, and a bench payload holds no comma.
      const at = payload.lastIndexOf(COMMA);
      return at > 0 && decodePayload(payload, at + 1, out) ? Incoming.publication : Incoming.other;
    }
    case SocketIoPacket.ack: {
      // 43<id>[] is a success; 43<id>[{"error":"…"}] a refusal by the peer server.
      const { id, end } = readAckId(payload, 2);
      out.id = id;
      if (payload[end] === 0x5b /* [ */ && payload[end + 1] === 0x7b /* { */) {
        out.errorCode = 0;
        out.message = errorText(payload.toString("utf8", end + 1, payload.length - 1));
        return Incoming.error;
      }
      return Incoming.reply;
    }
    case SocketIoPacket.connect:
      out.id = CONNECT_ID;
      return Incoming.reply;
    case SocketIoPacket.connectError:
      out.id = CONNECT_ID;
      out.errorCode = 0;
      out.message = errorText(payload.toString("utf8", 2));
      return Incoming.error;
    case SocketIoPacket.disconnect:
      out.closeCode = 0;
      out.message = "socket.io disconnect";
      out.retryAfterMs = 0;
      return Incoming.disconnect;
    default:
      return Incoming.other;
  }
}

/**
 * Socket.IO 4 over its WebSocket transport (`/socket.io/?EIO=4&transport=websocket`), in the
 * default namespace, for the peer server in bench/peers/socketio-server.mjs: the connect is
 * the CONNECT packet `40` (answered by `40{"sid":…}`), subscribe and publish are events with
 * acks (`42<id>["subscribe",channel]`, answered by `43<id>[]`), publications arrive as
 * `42["publication",channel,data]`, and the server's Engine.IO pings (`2`) are answered with
 * pongs (`3`). No socket.io-client: the frames are built and read here, on the bench's
 * WebSocket client.
 */
export const socketIoAdapter: ProtocolAdapter = {
  name: "socketio",
  description:
    "Socket.IO 4 (Engine.IO v4 over WebSocket; --url ws://host:port/socket.io/?EIO=4&transport=websocket), rooms as channels",
  subprotocol: undefined,
  publishReplies: true,

  connect: () => "40",
  subscribe: (channel, id) => `42${id}["subscribe",${JSON.stringify(channel)}]`,
  publish: (channel, data, id) => `42${id}["publish",${JSON.stringify(channel)},${data}]`,

  parse(payload, out) {
    switch (payload[0]) {
      case EngineIoPacket.message:
        return parseSocketIo(payload, out);
      case EngineIoPacket.ping:
        out.answer = "3";
        return Incoming.ping;
      case EngineIoPacket.close:
        out.closeCode = 0;
        out.message = "engine.io close";
        out.retryAfterMs = 0;
        return Incoming.disconnect;
      default:
        // open (0{"sid":…,"pingInterval":…}), noop: nothing to do.
        return Incoming.other;
    }
  },

  explainError({ operation }) {
    if (operation === "connect")
      return "the Socket.IO server refused the default namespace; check the server's connection middleware";
    return "the peer server refused the event; run bench/peers/socketio-server.mjs, whose subscribe and publish events the adapter uses";
  },
};
