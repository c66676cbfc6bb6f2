import type { RequestListener, Server } from "node:http";
import { createServer } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { Metrics } from "./metrics.js";
import { FrontDoor } from "./transport/front-door.js";
import type { UpgradeRequest } from "./transport/upgrade-request.js";

/** What a node's listener needs. */
export interface ListenerOptions {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Takes a WebSocket opening handshake (it routes by path); a throw ends that socket only. */
  upgrade: (req: UpgradeRequest, socket: Duplex, head: Buffer) => void;
  faults: Pick<Metrics, "unexpectedError">;
  logger: Logger;
}

/** How often request deadlines are enforced: a quarter of headersTimeoutMs, 25 ms to 1 s. */
const checkIntervalFor = (headersTimeoutMs: number): number =>
  Math.max(25, Math.min(1_000, Math.floor(headersTimeoutMs / 4)));

/**
 * Where a node takes connections: its {@link FrontDoor} (the listening socket, or sockets
 * another process accepted) in front of Node's HTTP server, with the WebSocket handshakes of
 * both behind one fault boundary.
 */
export class NodeListener {
  private readonly http: Server;
  private readonly front: FrontDoor;

  constructor(options: ListenerOptions) {
    const { headersTimeoutMs, requestTimeoutMs, faults, logger } = options;
    // Node checks these deadlines only every connectionsCheckingInterval (30 s by default), which
    // would let a socket trickling its headers live three times headersTimeoutMs.
    this.http = createServer({
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      connectionsCheckingInterval: checkIntervalFor(headersTimeoutMs),
    });
    const upgrade = (req: UpgradeRequest, socket: Duplex, head: Buffer): void => {
      // The upgrade's fault boundary: a throw ends this socket, never the node.
      try {
        options.upgrade(req, socket, head);
      } catch (err) {
        faults.unexpectedError("connection");
        logger.error({ err }, "unexpected error while accepting a WebSocket upgrade; dropped the socket");
        socket.destroy();
      }
    };
    // Upgrades the front door leaves to Node's parser (a later request on a kept-alive
    // connection, a handshake its strict reader does not take) arrive here.
    this.http.on("upgrade", upgrade);
    this.front = new FrontDoor({
      http: this.http,
      upgrade,
      headersTimeoutMs,
      checkIntervalMs: checkIntervalFor(headersTimeoutMs),
    });
  }

  /** Serves HTTP requests (everything but WebSocket handshakes) with `handler`. */
  serve(handler: RequestListener): void {
    this.http.on("request", handler);
  }

  /** Binds `port` on `host` with a listen queue of `backlog`; rejects when it cannot (the port is taken). */
  listen(port: number, host: string, backlog: number): Promise<void> {
    const server = this.front.server;
    return new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port, host, backlog }, () => {
        server.off("error", reject);
        resolve();
      });
    });
  }

  /** Serves a socket accepted elsewhere, as if this listener had accepted it. */
  accept(socket: Socket): void {
    this.front.accept(socket);
  }

  /** The bound address; throws when not listening. */
  get address(): { host: string; port: number; url: string } {
    const bound = this.front.address();
    if (bound === null) throw new Error("the node is not listening; call start() first");
    const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
    return { host: bound.address, port: bound.port, url: `http://${host}:${bound.port}` };
  }

  /** Stops listening and closes the connections still open. */
  close(): Promise<void> {
    return this.front.close();
  }
}
