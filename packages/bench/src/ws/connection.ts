import type { Socket } from "node:net";
import { openLeanSocket } from "../lean-socket.js";
import type { SocketOwner } from "../lean-socket.js";
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

const State = { handshake: 0, open: 1, closing: 2, ended: 3 } as const;
type State = (typeof State)[keyof typeof State];

/**
 * A lean WebSocket client connection on `node:net` (or `node:tls` for wss): text frames only
 * out, masked; an incremental reader in. Answers WebSocket pings, echoes close frames.
 */
export class WsConnection implements FrameSink, SocketOwner {
  private readonly socket: Socket;
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
    this.socket = openLeanSocket(this, options);
    this.reader = new FrameReader(this);
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
