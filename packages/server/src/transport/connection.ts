import type { Socket } from "node:net";
import type { FrameSink, ReaderLimits } from "./frame-reader.js";
import { FrameReader, WsClose } from "./frame-reader.js";
import { closeFrame, pongFrame } from "./frame.js";
import type { Framer, Transport, TransportEvents } from "./transport.js";
import { TransportName } from "./transport.js";

/** How long a connection waits for the peer's close frame after sending its own (as `ws` does). */
const CLOSE_TIMEOUT_MS = 30_000;

const kConnection = Symbol("hubcast.connection");
type TaggedSocket = Socket & { [kConnection]: WebSocketConnection };

/**
 * One server-side WebSocket connection on a raw socket (RFC 6455), the WebSocket
 * {@link Transport}: it reads frames, hands whole messages and pings to its session, runs the
 * close handshake, and writes the frames its session built with {@link framer} (the same
 * bytes for every subscriber) straight to the socket.
 *
 * Kept small because there is one per client: one object, no closures (the socket listeners
 * are shared functions that find the connection on the socket), a {@link FrameReader} only
 * while a read leaves something incomplete (most reads carry whole frames, so an idle
 * connection holds none), and a timer only while a close handshake is waiting for the peer.
 */
export class WebSocketConnection implements FrameSink, Transport {
  /** Made for a read, kept only while it holds something (a partial frame, fragments) or the connection is closing. */
  private reader: FrameReader | undefined;
  private handler: TransportEvents | undefined;
  private closeSent = false;
  /** What {@link ConnectionHandler.onClosed} reports. */
  private closeCode: number = WsClose.abnormal;
  private closeTimer: NodeJS.Timeout | undefined;

  /**
   * `framer`: the node's plain WebSocket framer, or its deflating one when permessage-deflate
   * was negotiated (`inflate`: the peer may then send compressed messages too).
   */
  constructor(
    readonly socket: Socket,
    private readonly limits: ReaderLimits,
    readonly framer: Framer,
    private readonly inflate: boolean,
  ) {}

  get name(): TransportName {
    return TransportName.websocket;
  }

  get bidirectional(): boolean {
    return true;
  }

  /** Starts reading, with `head` (bytes that came with the upgrade request) first. */
  start(handler: TransportEvents, head: Buffer): void {
    this.handler = handler;
    const socket = this.socket as TaggedSocket;
    socket[kConnection] = this;
    socket.setTimeout(0);
    socket.setNoDelay(true);
    socket.on("data", onSocketData);
    // Sockets from the front door or a cluster primary do not allow half-open connections: they
    // finish their side by themselves when the peer shuts its own. Only one that does (accepted
    // by some other HTTP server) needs telling; a second 'end' listener on every socket would
    // cost each connection an array.
    if (socket.allowHalfOpen) socket.on("end", onSocketEnd);
    socket.on("error", onSocketError);
    socket.on("close", onSocketClose);
    if (head.length > 0) this.received(head);
  }

  /** Output the socket has not sent yet, plus unfinished input (a partial frame, the fragments of a message). */
  get heldBytes(): number {
    return this.socket.writableLength + (this.reader?.heldBytes ?? 0);
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  write(frame: Buffer): void {
    this.socket.write(frame);
  }

  /** One corked `writev` for all of them. */
  writeMany(frames: readonly Buffer[]): void {
    const socket = this.socket;
    socket.cork();
    for (const frame of frames) socket.write(frame);
    socket.uncork();
  }

  /**
   * Starts the close handshake: sends a close frame, ends the socket when the peer answers (or
   * after 30 s). From now on data frames are dropped unread; only the peer's close frame matters.
   */
  close(code: number, reason: string): void {
    if (this.closeSent || this.socket.destroyed) return;
    this.closeSent = true;
    this.readerNow().closing();
    this.socket.write(closeFrame(code, reason));
    this.closeTimer = setTimeout(destroyConnection, CLOSE_TIMEOUT_MS, this.socket);
    this.closeTimer.unref();
  }

  /** Drops the socket at once, without a close handshake. */
  terminate(): void {
    this.socket.destroy();
  }

  onMessage(data: Buffer, binary: boolean): void {
    this.handler?.onMessage(data, binary);
  }

  onPing(payload: Buffer): void {
    if (!this.closeSent) this.handler?.onPing(pongFrame(payload));
  }

  onHeldBytesGrew(): void {
    this.handler?.onHeldBytesGrew();
  }

  onCloseFrame(code: number, _reason: string): void {
    this.closeCode = code;
    if (!this.closeSent) {
      this.closeSent = true;
      // Echo the peer's code (RFC 6455 §5.5.1); a close without one is answered without one.
      this.socket.write(code === WsClose.noStatus ? CLOSE_WITHOUT_CODE : closeFrame(code, ""));
    }
    this.socket.end();
  }

  onProtocolError(code: number, message: string): void {
    this.closeCode = code;
    this.handler?.onProtocolError(code, message);
    if (!this.closeSent) {
      this.closeSent = true;
      this.socket.write(closeFrame(code, message));
    }
    this.socket.end();
    // A peer that broke the protocol gets no 30 s of grace to read its close frame.
    this.closeTimer ??= setTimeout(destroyConnection, 1_000, this.socket);
    this.closeTimer.unref();
  }

  private readerNow(): FrameReader {
    this.reader ??= new FrameReader(this, this.limits, this.inflate);
    return this.reader;
  }

  /** @internal the socket closed. */
  closed(): void {
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.handler?.onClosed(this.closeCode);
    this.handler = undefined;
  }

  /** @internal bytes arrived. The fault boundary of the read path: a throw ends this connection, not the process. */
  received(chunk: Buffer): void {
    try {
      const reader = this.readerNow();
      reader.push(chunk);
      if (reader.idle && this.reader === reader) this.reader = undefined;
    } catch (err) {
      const handler = this.handler;
      if (handler === undefined) this.socket.destroy();
      else handler.onUnexpectedError(err);
    }
  }
}

const CLOSE_WITHOUT_CODE = Buffer.from([0x88, 0x00]);

function destroyConnection(socket: Socket): void {
  socket.destroy();
}

function onSocketData(this: TaggedSocket, chunk: Buffer): void {
  this[kConnection].received(chunk);
}

/** The peer shut its side: finish ours, so a socket that allows half-open connections closes too. */
function onSocketEnd(this: TaggedSocket): void {
  this.end();
}

/** Errors end in `close`, which cleans up; without a listener they would crash the process. */
function onSocketError(this: TaggedSocket): void {
  this.destroy();
}

function onSocketClose(this: TaggedSocket): void {
  this[kConnection].closed();
}
