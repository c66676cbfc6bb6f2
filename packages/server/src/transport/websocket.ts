import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Codec } from "@hubcast/protocol";
import { CloseCode, JsonCodec, ProtobufCodec, Subprotocol, shouldReconnect } from "@hubcast/protocol";
import { WebSocketServer } from "ws";
import type { WebSocket } from "ws";
import { TokenBucket } from "../limits.js";
import type { OriginPolicy } from "../auth/origins.js";
import type { NodeContext } from "../context.js";
import { Session } from "../session.js";
import { acceptsDeflateOffer, perMessageDeflateOptions } from "./deflate.js";

const codecs: ReadonlyMap<string, Codec> = new Map<string, Codec>([
  [Subprotocol.json, new JsonCodec()],
  [Subprotocol.protobuf, new ProtobufCodec()],
]);
const SUPPORTED = [...codecs.keys()].join(", ");

/** The codec for the client's offered subprotocols; JSON when it offers none (handy for wscat). */
function chooseCodec(header: string | undefined): Codec | undefined {
  if (header === undefined || header.trim() === "") return codecs.get(Subprotocol.json);
  for (const offered of header.split(",")) {
    const codec = codecs.get(offered.trim());
    if (codec !== undefined) return codec;
  }
  return undefined;
}

function reject(socket: Duplex, status: string, message: string): void {
  // After an `upgrade` event nothing else listens for errors on this socket: a peer that resets
  // it would otherwise crash the process with an unhandled error.
  socket.on("error", () => socket.destroy());
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`);
}

/**
 * Accepts WebSocket upgrades on the node's path and turns each into a {@link Session}.
 * Frames larger than maxMessageBytes are refused by `ws` itself, with close code 1009.
 */
export class WebSocketTransport {
  private readonly wss: WebSocketServer;
  /** Negotiates permessage-deflate; only with the `compression` option, and only for offers it can serve. */
  private readonly deflateWss: WebSocketServer | undefined;
  private readonly admissionBucket: TokenBucket | undefined;
  private readonly origins: OriginPolicy;

  constructor(
    private readonly ctx: NodeContext,
    private readonly sessions: Set<Session>,
    private readonly accepting: () => boolean,
  ) {
    this.origins = ctx.auth.origins;
    const perSecond = ctx.options.maxConnectionsPerSecond;
    if (perSecond > 0) this.admissionBucket = new TokenBucket(perSecond, perSecond, Date.now());
    const common = {
      noServer: true,
      // With permessage-deflate, `ws` applies this to the inflated size too (close 1009).
      maxPayload: ctx.options.maxMessageBytes,
      clientTracking: false,
      handleProtocols: (offered: Set<string>) => {
        for (const name of offered) if (codecs.has(name)) return name;
        return false;
      },
    };
    this.wss = new WebSocketServer({ ...common, perMessageDeflate: false });
    if (ctx.deflater !== undefined) this.deflateWss = new WebSocketServer({ ...common, perMessageDeflate: perMessageDeflateOptions(ctx.deflater) });
  }

  /** The `upgrade` listener for the node's HTTP server. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path !== this.ctx.options.path) {
      reject(socket, "404 Not Found", `no WebSocket endpoint here; connect to ${this.ctx.options.path}`);
      return;
    }
    const origin = req.headers.origin;
    if (!this.origins.allows(origin)) {
      reject(socket, "403 Forbidden", `origin ${JSON.stringify(origin?.slice(0, 200))} is not allowed; add it to the allowedOrigins option`);
      return;
    }
    if (!this.accepting()) {
      reject(socket, "503 Service Unavailable", "node is not accepting connections");
      return;
    }
    const codec = chooseCodec(req.headers["sec-websocket-protocol"]);
    if (codec === undefined) {
      reject(socket, "400 Bad Request", `unsupported WebSocket subprotocol; use one of: ${SUPPORTED}`);
      return;
    }
    const remoteAddress = req.socket.remoteAddress;
    // An offer this node cannot serve connects uncompressed rather than failing the handshake.
    const wss = this.deflateWss !== undefined && acceptsDeflateOffer(req.headers["sec-websocket-extensions"]) ? this.deflateWss : this.wss;
    const refusal = this.admission(remoteAddress);
    if (refusal !== undefined) {
      this.ctx.metrics.limitRejected(refusal.code === CloseCode.tryLater ? "admission" : "connections_per_ip");
      this.ctx.metrics.disconnected(refusal.code);
      // Told in-band, after the upgrade: browsers cannot read the status of a refused handshake.
      wss.handleUpgrade(req, socket, head, (ws) => turnAway(ws, codec, refusal));
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const ip = remoteAddress ?? "";
      this.ctx.connections.perIp.add(ip);
      ws.once("close", () => this.ctx.connections.perIp.remove(ip));
      const session = new Session(ws, socket, codec, this.ctx, remoteAddress);
      this.sessions.add(session);
      this.ctx.metrics.accepted();
      this.ctx.logger.debug({ client: session.id, remoteAddress, subprotocol: ws.protocol, compression: session.deflater !== undefined }, "websocket upgrade accepted");
      ws.on("error", (err) => this.ctx.metrics.socketError(err));
      ws.on("error", (err) => this.ctx.logger.debug({ err, client: session.id }, "websocket error"));
      ws.on("close", (code) => {
        session.markClosed();
        this.sessions.delete(session);
        this.ctx.logger.debug({ client: session.id, code }, "connection closed");
      });
    });
  }

  close(): void {
    this.wss.close();
    this.deflateWss?.close();
  }

  /** Why a new connection must be turned away now (admission rate, per-IP limit), if it must. */
  private admission(remoteAddress: string | undefined): Refusal | undefined {
    const now = Date.now();
    if (this.admissionBucket !== undefined && !this.admissionBucket.take(now)) {
      // Spread the excess over the time the bucket needs to admit them all, at least a second.
      const retryAfterMs = Math.max(1_000, this.admissionBucket.waitMs(now) * 2);
      return { code: CloseCode.tryLater, reason: "node is admitting connections at its limit; retry later", retryAfterMs };
    }
    const { maxConnectionsPerIp } = this.ctx.options;
    if (maxConnectionsPerIp > 0 && this.ctx.connections.perIp.count(remoteAddress ?? "") >= maxConnectionsPerIp) {
      return { code: CloseCode.connectionLimit, reason: `this address already holds ${maxConnectionsPerIp} connections` };
    }
    return undefined;
  }
}

/** A connection turned away at admission. */
interface Refusal {
  code: CloseCode;
  reason: string;
  retryAfterMs?: number;
}

/** Tells a just-upgraded socket why it is refused (disconnect push, then close) without making a session. */
function turnAway(ws: WebSocket, codec: Codec, refusal: Refusal): void {
  const body = { code: refusal.code, reason: refusal.reason, reconnect: shouldReconnect(refusal.code), ...(refusal.retryAfterMs === undefined ? {} : { retryAfterMs: refusal.retryAfterMs }) };
  ws.send(codec.encodePush({ type: "disconnect", body }), { binary: codec.binary });
  ws.close(refusal.code, refusal.reason);
  ws.on("error", () => ws.terminate()); // the peer may vanish first; nothing is left to clean up
}
