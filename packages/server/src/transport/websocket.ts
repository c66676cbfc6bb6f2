import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Codec } from "@hubcast/protocol";
import { JsonCodec, Subprotocol } from "@hubcast/protocol";
import { WebSocketServer } from "ws";
import type { NodeContext } from "../context.js";
import { Session } from "../session.js";

const codecs: ReadonlyMap<string, Codec> = new Map([[Subprotocol.json, new JsonCodec()]]);
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
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`);
}

/**
 * Accepts WebSocket upgrades on the node's path and turns each into a {@link Session}.
 * Frames larger than maxMessageBytes are refused by `ws` itself, with close code 1009.
 */
export class WebSocketTransport {
  private readonly wss: WebSocketServer;

  constructor(
    private readonly ctx: NodeContext,
    private readonly sessions: Set<Session>,
    private readonly accepting: () => boolean,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: ctx.options.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (offered) => {
        for (const name of offered) if (codecs.has(name)) return name;
        return false;
      },
    });
  }

  /** The `upgrade` listener for the node's HTTP server. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path !== this.ctx.options.path) {
      reject(socket, "404 Not Found", `no WebSocket endpoint here; connect to ${this.ctx.options.path}`);
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
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new Session(ws, socket, codec, this.ctx, remoteAddress);
      this.sessions.add(session);
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
  }
}
