import type { Server as HttpServer } from "node:http";
import { maxHeaderSize } from "node:http";
import type { AddressInfo, Server, Socket } from "node:net";
import { createServer } from "node:net";
import type { UpgradeRequest } from "./upgrade-request.js";
import { GET_PREFIX, HEAD_END, parseUpgradeRequest } from "./upgrade-request.js";

/** What the front door needs from the node. */
export interface FrontDoorOptions {
  /** Node's HTTP server, never listening itself: every connection that is not a plain WebSocket handshake goes to it. */
  http: HttpServer;
  /** Takes a WebSocket opening handshake (the HTTP server's `upgrade` listener calls it too). */
  upgrade: (req: UpgradeRequest, socket: Socket, head: Buffer) => void;
  /** How long a connection may take to send its request's headers before it is answered 408. */
  headersTimeoutMs: number;
  /** How often deadlines are checked. */
  checkIntervalMs: number;
}

/** A connection whose first request's headers are still arriving. */
interface PendingHead {
  readonly socket: Socket;
  readonly deadline: number;
  chunks: Buffer[];
  length: number;
}

const TIMEOUT_RESPONSE = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";

/**
 * The node's listening socket. It reads the first request of each connection itself: a plain
 * WebSocket opening handshake goes straight to the WebSocket endpoints and never meets Node's
 * HTTP server; every other request (and anything this strict reader does not take) is handed
 * to the HTTP server with the bytes already read put back, untouched.
 *
 * Why: Node's HTTP server leaves state on every socket it parsed (its parser's listeners,
 * wrappers, tracking), about 2 KiB of RSS per upgraded connection measured in `bench/floor`,
 * a third of what an idle WebSocket costs. A socket that only ever saw this reader costs
 * what a bare `net` socket costs.
 *
 * Listeners are shared functions that find a connection's state by its socket (no closures
 * per connection); deadlines are checked by one timer while connections are pending, as Node's
 * HTTP server does, so a trickled handshake gets the same 408 as a trickled request.
 */
export class FrontDoor {
  readonly server: Server;
  /**
   * Connections still sending their first request. Kept here rather than tagged on the
   * socket: a property added to a socket for the handshake alone would stay in its shape
   * (and its memory) for the connection's life.
   */
  private readonly pending = new Map<Socket, PendingHead>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: FrontDoorOptions) {
    const door = this;
    this.onData = function onData(this: Socket, chunk: Buffer): void {
      const head = door.pending.get(this);
      if (head !== undefined) door.read(head, chunk);
    };
    this.onClose = function onClose(this: Socket): void {
      const head = door.pending.get(this);
      if (head !== undefined) door.release(head);
    };
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    // Node's HTTP server starts the deadline checks of its connections (headersTimeout,
    // requestTimeout) when it starts listening. It never listens here, so tell it it does:
    // without this, connections handed to it would have no deadlines.
    options.http.emit("listening");
  }

  /** Serves a socket, whether this server accepted it or another process handed it over. */
  accept(socket: Socket): void {
    this.pending.set(socket, { socket, deadline: Date.now() + this.options.headersTimeoutMs, chunks: [], length: 0 });
    socket.on("data", this.onData);
    socket.on("error", onError);
    socket.on("end", onEnd);
    socket.on("close", this.onClose);
    this.startSweep();
  }

  /** The bound address, once listening. */
  address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  /** Stops listening and drops connections still sending their first request; the HTTP server's connections are closed too. */
  close(): Promise<void> {
    this.stopSweep();
    for (const socket of this.pending.keys()) socket.destroy();
    this.pending.clear();
    this.options.http.close();
    this.options.http.closeAllConnections();
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** The sockets' listeners: one pair per front door, not per connection. */
  private readonly onData: (this: Socket, chunk: Buffer) => void;
  private readonly onClose: (this: Socket) => void;

  /** Takes the next bytes of a connection's first request, and acts once it can tell what the request is. */
  private read(head: PendingHead, chunk: Buffer): void {
    const seen = head.length;
    head.chunks.push(chunk);
    head.length += chunk.length;
    if (seen < GET_PREFIX.length) {
      const start = Buffer.concat(head.chunks, Math.min(head.length, GET_PREFIX.length));
      if (!GET_PREFIX.subarray(0, start.length).equals(start)) return this.handOff(head);
    }
    // The end of the headers may straddle chunks: look from three bytes before this one.
    const tail = Math.min(seen, HEAD_END.length - 1);
    const window = tail === 0 ? chunk : Buffer.concat([bytesBefore(head.chunks, tail), chunk]);
    const found = window.indexOf(HEAD_END);
    if (found === -1) {
      if (head.length > maxHeaderSize) this.handOff(head); // Node answers 431
      return;
    }
    const end = seen - tail + found;
    const bytes = Buffer.concat(head.chunks, head.length);
    const req = parseUpgradeRequest(bytes.toString("latin1", 0, end), head.socket);
    if (req === undefined) return this.handOff(head);
    this.release(head);
    this.options.upgrade(req, head.socket, bytes.subarray(end + HEAD_END.length));
  }

  /** Gives a connection to the HTTP server as if it had accepted it, with the bytes read so far put back. */
  private handOff(head: PendingHead): void {
    this.release(head);
    const { socket } = head;
    socket.pause();
    socket.unshift(Buffer.concat(head.chunks, head.length));
    this.options.http.emit("connection", socket);
    // Resuming emits the bytes put back (on the next tick, before any new ones arrive) to
    // the HTTP server's parser, which reads the rest straight from the socket.
    socket.resume();
  }

  private startSweep(): void {
    if (this.sweepTimer !== undefined) return;
    this.sweepTimer = setInterval(() => this.sweep(), this.options.checkIntervalMs);
    this.sweepTimer.unref();
  }

  private stopSweep(): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private sweep(): void {
    const now = Date.now();
    for (const head of this.pending.values()) {
      if (head.deadline > now) continue;
      this.release(head);
      head.socket.end(TIMEOUT_RESPONSE, () => head.socket.destroy());
    }
    if (this.pending.size === 0) this.stopSweep();
  }

  /** Forgets a pending connection and takes this reader's listeners off its socket. */
  private release(head: PendingHead): void {
    const { socket } = head;
    this.pending.delete(socket);
    socket.off("data", this.onData);
    socket.off("error", onError);
    socket.off("end", onEnd);
    socket.off("close", this.onClose);
  }
}

function onError(this: Socket): void {
  this.destroy();
}

/** A peer that stops sending before its first request is complete gets nothing back. */
function onEnd(this: Socket): void {
  this.destroy();
}

/** The last `count` bytes of `chunks` before its last chunk, without copying the rest. */
function bytesBefore(chunks: readonly Buffer[], count: number): Buffer {
  const parts: Buffer[] = [];
  let needed = count;
  for (let i = chunks.length - 2; i >= 0 && needed > 0; i--) {
    const chunk = chunks[i] as Buffer;
    const taken = Math.min(needed, chunk.length);
    parts.unshift(chunk.subarray(chunk.length - taken));
    needed -= taken;
  }
  return Buffer.concat(parts);
}
