import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Codec } from "@hubcast/protocol";
import { shouldReconnect } from "@hubcast/protocol";
import type { OriginPolicy } from "../auth/origins.js";
import type { NodeContext } from "../context.js";
import { Session } from "../session.js";
import { WebSocketConnection } from "./connection.js";
import { negotiateDeflate } from "./deflate.js";
import type { ReaderLimits } from "./frame-reader.js";
import { websocketFramer } from "./frame.js";
import { acceptResponse, checkHandshake } from "./handshake.js";
import type { TransportEvents } from "./transport.js";
import { TransportName } from "./transport.js";
import { JSON_CODEC, WIRE_CODECS } from "./wire-codecs.js";
import type { Admission, Refusal } from "./admission.js";
import type { UpgradeRequest } from "./upgrade-request.js";

const SUPPORTED = [...WIRE_CODECS.keys()].join(", ");

/** The subprotocol to answer with and its codec; JSON without a subprotocol when the client offers none (handy for wscat). */
function chooseCodec(header: string | undefined): { protocol: string | undefined; codec: Codec } | undefined {
  if (header === undefined || header.trim() === "") return { protocol: undefined, codec: JSON_CODEC };
  for (const offered of header.split(",")) {
    const protocol = offered.trim();
    const codec = WIRE_CODECS.get(protocol);
    if (codec !== undefined) return { protocol, codec };
  }
  return undefined;
}

export function reject(socket: Duplex, status: string, message: string, headers = ""): void {
  // After an `upgrade` event nothing else listens for errors on this socket: a peer that resets
  // it would otherwise crash the process with an unhandled error.
  socket.on("error", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\n${headers}Connection: close\r\n\r\n${message}`,
  );
}

/**
 * Accepts WebSocket upgrades on the node's path, answers the opening handshake itself, and
 * turns each connection into a {@link Session} on a {@link WebSocketConnection}: no
 * per-connection WebSocket library objects, no copy of the upgrade request kept.
 */
export class WebSocketTransport {
  private readonly origins: OriginPolicy;
  private readonly limits: ReaderLimits;

  constructor(
    private readonly ctx: NodeContext,
    private readonly sessions: Set<Session>,
    private readonly accepting: () => boolean,
    private readonly admission: Admission,
  ) {
    this.origins = ctx.auth.origins;
    this.limits = { maxMessageBytes: ctx.options.maxMessageBytes };
  }

  /** Takes a WebSocket opening handshake for Hubcast's own protocol on its path (from the node's front door or its HTTP server). */
  handleUpgrade(req: UpgradeRequest, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path !== this.ctx.options.path) {
      reject(socket, "404 Not Found", `no WebSocket endpoint here; connect to ${this.ctx.options.path}`);
      return;
    }
    const chosen = chooseCodec(req.headers["sec-websocket-protocol"]);
    if (chosen === undefined) {
      if (this.handshakeRefused(req, socket)) return;
      reject(socket, "400 Bad Request", `unsupported WebSocket subprotocol; use one of: ${SUPPORTED}`);
      return;
    }
    const { protocol, codec } = chosen;
    const connection = this.open(req, socket, protocol);
    if (connection === undefined) return;
    const remoteAddress = req.socket.remoteAddress;
    const refusal = this.admission.check(remoteAddress);
    if (refusal !== undefined) {
      // Told in-band, after the upgrade: browsers cannot read the status of a refused handshake.
      turnAway(connection, codec, refusal, head);
      return;
    }
    const session = new Session(connection, codec, this.ctx, remoteAddress, this.sessions);
    this.ctx.metrics.accepted(TransportName.websocket);
    this.ctx.logger.debug({ client: session.id, remoteAddress, subprotocol: protocol }, "websocket upgrade accepted");
    connection.start(session, head);
  }

  /**
   * Completes an opening handshake every WebSocket endpoint of the node shares (this one, the
   * Pusher protocol's): checks the request, the origin and whether the node takes connections,
   * answers with `protocol` and permessage-deflate when both sides want it, and returns the
   * connection, not yet reading. Returns undefined when it answered with a refusal instead.
   */
  open(req: UpgradeRequest, socket: Duplex, protocol: string | undefined): WebSocketConnection | undefined {
    if (this.handshakeRefused(req, socket)) return undefined;
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return undefined;
    }
    // An offer this node cannot serve connects uncompressed rather than failing the handshake.
    const { deflateFramer } = this.ctx;
    const extensions =
      deflateFramer === undefined ? undefined : negotiateDeflate(req.headers["sec-websocket-extensions"]);
    socket.write(acceptResponse(req.headers["sec-websocket-key"] as string, protocol, extensions));
    const compressed = extensions !== undefined && deflateFramer !== undefined;
    const framer = compressed ? deflateFramer : websocketFramer;
    return new WebSocketConnection(socket as Socket, this.limits, framer, compressed);
  }

  /** Answers a handshake the node must refuse (malformed, foreign origin, not accepting); true when it did. */
  private handshakeRefused(req: UpgradeRequest, socket: Duplex): boolean {
    const refused = checkHandshake(req);
    if (refused !== undefined) {
      reject(socket, refused.status, refused.message, refused.headers);
      return true;
    }
    const origin = req.headers.origin;
    if (!this.origins.allows(origin)) {
      reject(
        socket,
        "403 Forbidden",
        `origin ${JSON.stringify(origin?.slice(0, 200))} is not allowed; add it to the allowedOrigins option`,
      );
      return true;
    }
    if (!this.accepting()) {
      reject(socket, "503 Service Unavailable", "node is not accepting connections");
      return true;
    }
    return false;
  }
}

/** Reads nothing from a connection turned away; it only waits for the close handshake. */
export const IGNORE: TransportEvents = {
  onMessage() {},
  onPing() {}, // unanswered: a connection turned away is only waiting to close
  onHeldBytesGrew() {}, // it discards data frames, so it holds at most a frame header
  onProtocolError() {},
  onClosed() {},
  onUnexpectedError() {}, // the close timer of turnAway() drops the socket
};

/** Tells a just-upgraded socket why it is refused (disconnect push, then close) without making a session. */
function turnAway(connection: WebSocketConnection, codec: Codec, refusal: Refusal, head: Buffer): void {
  const body = {
    code: refusal.code,
    reason: refusal.reason,
    reconnect: shouldReconnect(refusal.code),
    ...(refusal.retryAfterMs === undefined ? {} : { retryAfterMs: refusal.retryAfterMs }),
  };
  connection.start(IGNORE, head);
  connection.write(connection.framer.frame(codec.encodePush({ type: "disconnect", body }), codec.binary));
  connection.close(refusal.code, refusal.reason);
}
