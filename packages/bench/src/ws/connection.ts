import { connect as netConnect } from "node:net";
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { FrameReader, Opcode } from "./frame-reader.js";
import type { FrameSink } from "./frame-reader.js";
import { closeFrame, frame, textFrame } from "./frame-writer.js";
import { handshakeRequest, readHandshakeResponse } from "./handshake.js";
import type { WsTarget } from "./handshake.js";

/** How a connection ended. */
export interface WsEnd {
  /** The close frame's code; 1006 when the link dropped without one. */
  code: number;
  reason: string;
  /** Set when the connection failed rather than closed: a socket error, a refused upgrade, a protocol error. */
  error?: string;
  /** Whether the WebSocket had opened before it ended. */
  opened: boolean;
}

/** What a {@link WsConnection} reports to its owner. One listener per connection, no closures. */
export interface WsListener {
  /** The upgrade succeeded; sending is allowed from now on. */
  onOpen(): void;
  /** A complete text message; the buffer is valid only during the call. */
  onText(payload: Buffer): void;
  /** Called once, last. */
  onEnd(end: WsEnd): void;
}

/** Options of one connection. */
export interface WsConnectOptions {
  target: WsTarget;
  /** Subprotocol to offer; none when undefined. */
  subprotocol?: string | undefined;
  /** Local (source) address to connect from; the OS picks when undefined. */
  localAddress?: string | undefined;
  /** Time for TCP connect plus upgrade. @default 10_000 */
  handshakeTimeoutMs?: number;
}

const OWNER = Symbol("wsConnection");
type OwnedSocket = Socket & { [OWNER]: WsConnection };

// Socket events go through these shared functions (`this` is the socket), so a connection
// costs no closures: the bench holds tens of thousands of them per process.
function onSocketConnect(this: OwnedSocket): void {
  this[OWNER].handleConnect();
}
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[OWNER].handleData(chunk);
}
function onSocketRead(this: OwnedSocket, nread: number, buffer: Buffer): boolean {
  this[OWNER].handleData(buffer.subarray(0, nread));
  return true;
}
function onSocketError(this: OwnedSocket, err: NodeJS.ErrnoException): void {
  this[OWNER].fail(err.code ?? err.message);
}
function onSocketTimeout(this: OwnedSocket): void {
  this[OWNER].fail("timeout");
}
function onSocketClose(this: OwnedSocket): void {
  this[OWNER].handleSocketClose();
}

/**
 * Plain sockets read into one buffer shared by every connection of the process (reads run
 * one at a time), through `onread`: no Buffer per read and no stream machinery per chunk.
 * Whatever must outlive a read is copied by the handshake and the frame reader.
 */
const readBuffer = Buffer.allocUnsafe(256 * 1024);

const State = { handshake: 0, open: 1, closing: 2, ended: 3 } as const;
type State = (typeof State)[keyof typeof State];

/**
 * A lean WebSocket client connection on `node:net` (or `node:tls` for wss): text frames only
 * out, masked; an incremental reader in. Answers WebSocket pings, echoes close frames.
 */
export class WsConnection implements FrameSink {
  private readonly socket: OwnedSocket;
  private readonly reader: FrameReader;
  private state: State = State.handshake;
  private head: Buffer | undefined;
  private accept = "";
  private closeCode = 1006;
  private closeReason = "";
  private error: string | undefined;
  private opened = false;

  constructor(
    private readonly options: WsConnectOptions,
    private readonly listener: WsListener,
  ) {
    const { target, localAddress } = options;
    // `localAddress` only when set: the socket options reject an explicit undefined.
    const local = localAddress === undefined ? {} : { localAddress };
    const socket = (
      target.secure
        ? tlsConnect({
            host: target.host,
            port: target.port,
            servername: target.host,
            ALPNProtocols: ["http/1.1"],
            ...local,
          })
        : netConnect({
            host: target.host,
            port: target.port,
            onread: { buffer: readBuffer, callback: onSocketRead },
            ...local,
          })
    ) as OwnedSocket;
    socket[OWNER] = this;
    this.socket = socket;
    this.reader = new FrameReader(this);
    socket.setNoDelay(true);
    socket.setTimeout(options.handshakeTimeoutMs ?? 10_000);
    socket.once(target.secure ? "secureConnect" : "connect", onSocketConnect);
    if (target.secure) socket.on("data", onSocketData);
    socket.on("error", onSocketError);
    socket.on("timeout", onSocketTimeout);
    socket.on("close", onSocketClose);
  }

  /** Bytes queued in user space, not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  /** True between open and the start of closing. */
  get isOpen(): boolean {
    return this.state === State.open;
  }

  /** Sends one text message; ignored unless open. Returns false when the socket buffers it. */
  sendText(text: string): boolean {
    if (this.state !== State.open) return false;
    return this.socket.write(textFrame(text));
  }

  /** Starts the closing handshake; the connection ends when the server answers (or in 2 s). */
  close(code = 1000, reason = ""): void {
    if (this.state === State.open) {
      this.state = State.closing;
      this.socket.write(closeFrame(code, reason));
      this.socket.setTimeout(2_000);
    } else if (this.state === State.handshake) {
      this.state = State.closing;
      this.socket.destroy();
    }
  }

  /** Ends the connection at once, without a closing handshake. */
  destroy(): void {
    this.socket.destroy();
  }

  /** @internal */
  handleConnect(): void {
    const { request, accept } = handshakeRequest(this.options.target, this.options.subprotocol);
    this.accept = accept;
    this.socket.write(request);
  }

  /** @internal */
  handleData(chunk: Buffer): void {
    if (this.state !== State.handshake) {
      this.reader.push(chunk);
      return;
    }
    this.head = this.head === undefined ? Buffer.from(chunk) : Buffer.concat([this.head, chunk]);
    const outcome = readHandshakeResponse(this.head, this.accept, this.options.subprotocol);
    if (outcome.kind === "incomplete") return;
    this.head = undefined;
    if (outcome.kind === "refused") return this.fail(outcome.message);
    this.state = State.open;
    this.opened = true;
    this.socket.setTimeout(0);
    this.listener.onOpen();
    // onOpen may have closed the connection already.
    if (outcome.rest.length > 0 && (this.state as State) !== State.ended) this.reader.push(outcome.rest);
  }

  /** @internal */
  fail(error: string): void {
    if (this.state === State.ended) return;
    this.error ??= error;
    this.socket.destroy();
  }

  /** @internal */
  handleSocketClose(): void {
    if (this.state === State.ended) return;
    this.state = State.ended;
    const end: WsEnd = { code: this.closeCode, reason: this.closeReason, opened: this.opened };
    if (this.error !== undefined) end.error = this.error;
    this.listener.onEnd(end);
  }

  /** @internal FrameSink */
  onText(payload: Buffer): void {
    if (this.state === State.open || this.state === State.closing) this.listener.onText(payload);
  }

  /** @internal FrameSink: the bench protocol is text-only; binary messages are ignored. */
  onBinary(): void {}

  /** @internal FrameSink */
  onPing(payload: Buffer): void {
    if (this.state === State.open) this.socket.write(frame(Opcode.pong, payload));
  }

  /** @internal FrameSink */
  onClose(code: number, reason: string): void {
    this.closeCode = code;
    this.closeReason = reason;
    if (this.state === State.open) this.socket.write(closeFrame(code === 1005 ? 1000 : code));
    this.state = State.closing;
    this.socket.end();
  }

  /** @internal FrameSink */
  onProtocolError(message: string): void {
    this.fail(`protocol error: ${message}`);
  }
}
