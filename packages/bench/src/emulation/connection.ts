import type { Socket } from "node:net";
import { openLeanSocket } from "../lean-socket.js";
import type { SocketOwner } from "../lean-socket.js";
import type { Link, LinkEnd, LinkListener } from "../transport.js";
import type { WsTarget } from "../ws/handshake.js";
import { ChunkedDecoder } from "./chunked.js";
import type { BodySink } from "./chunked.js";
import { emulationPath, parseHello, readEmulationHead } from "./hello.js";
import { NdjsonReader, SseReader } from "./messages.js";
import type { MessageReader, MessageSink } from "./messages.js";
import type { EmulationSender, SendOwner } from "./sender.js";

/** Frames one POST carries at most: the server's limit (MAX_FRAMES_PER_POST in its emulation). */
const MAX_FRAMES_PER_POST = 64;
/** Longest line or event the readers keep: past the server's largest publication with room for its envelope. */
const MAX_MESSAGE_BYTES = 17 * 1024 * 1024;

/** Options of one emulated connection. */
export interface EmulationConnectOptions {
  target: WsTarget;
  /** `sse`: GET with `?connect=`, Server-Sent Events down; otherwise POST, NDJSON down. */
  sse: boolean;
  /** The protocol's connect frame: it opens the stream. */
  connectFrame: string;
  /** Shared POST pool for the frames the client sends. */
  sender: EmulationSender;
  /** Local (source) address; the OS picks when undefined. */
  localAddress?: string | undefined;
  /** Time for TCP connect plus the stream's first line. @default 10_000 */
  handshakeTimeoutMs?: number;
}

const State = { head: 0, hello: 1, open: 2, ended: 3 } as const;
type State = (typeof State)[keyof typeof State];

/**
 * A lean client of Hubcast's two-way emulation on `node:net` (or `node:tls`): one socket holds
 * the downstream (the HTTP request that carries the connect frame, then the streamed response,
 * dechunked and split into the protocol's frames), and the frames the client sends go up by
 * `POST …/emulation/send` through the worker's shared {@link EmulationSender}, one POST in
 * flight per connection so they arrive in order, what queued meanwhile batched into the next.
 * The listener hears `onOpen` once the stream's first line named it, then each frame.
 */
export class EmulationConnection implements Link, BodySink, MessageSink, SendOwner, SocketOwner {
  private readonly socket: Socket;
  private readonly reader: MessageReader;
  private chunked: ChunkedDecoder | undefined;
  private state: State = State.head;
  private head: Buffer | undefined;
  private stream = "";
  private readonly sendPath: string;
  private queue: string[] = [];
  private queuedBytes = 0;
  private posting = false;
  private error: string | undefined;
  private retryAfterMs: number | undefined;
  private opened = false;

  constructor(
    private readonly options: EmulationConnectOptions,
    private readonly listener: LinkListener,
  ) {
    this.socket = openLeanSocket(this, options);
    this.sendPath = `${emulationPath(options.target)}/send`;
    this.reader = options.sse ? new SseReader(this, MAX_MESSAGE_BYTES) : new NdjsonReader(this, MAX_MESSAGE_BYTES);
  }

  /** Frames waiting for their POST, in bytes, plus what the stream's socket still holds. */
  get bufferedBytes(): number {
    return this.queuedBytes + this.socket.writableLength;
  }

  /** Queues a frame for the next POST; false when it waits behind one in flight. Ignored unless open. */
  sendText(text: string): boolean {
    if (this.state !== State.open) return false;
    this.queue.push(text);
    this.queuedBytes += text.length;
    if (this.posting) return false;
    this.post();
    return true;
  }

  /** Ends the stream (the server sees the client go); `onEnd` follows. */
  close(): void {
    this.socket.destroy();
  }

  /** @internal */
  handleConnect(): void {
    const { target, sse, connectFrame } = this.options;
    const path = emulationPath(target);
    const request = sse
      ? `GET ${path}?connect=${encodeURIComponent(connectFrame)} HTTP/1.1\r\nHost: ${target.hostHeader}\r\n` +
        "Accept: text/event-stream\r\n\r\n"
      : `POST ${path} HTTP/1.1\r\nHost: ${target.hostHeader}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(connectFrame)}\r\n\r\n${connectFrame}`;
    this.socket.write(request);
  }

  /** @internal */
  handleData(chunk: Buffer): void {
    if (this.state === State.ended) return;
    if (this.state !== State.head) return this.body(chunk);
    this.head = this.head === undefined ? Buffer.from(chunk) : Buffer.concat([this.head, chunk]);
    const outcome = readEmulationHead(this.head);
    if (outcome.kind === "incomplete") return;
    this.head = undefined;
    if (outcome.kind === "refused") {
      this.retryAfterMs = outcome.retryAfterMs;
      return this.fail(outcome.message);
    }
    this.state = State.hello;
    if (outcome.chunked) this.chunked = new ChunkedDecoder(this);
    if (outcome.rest.length > 0) this.body(outcome.rest);
  }

  private body(bytes: Buffer): void {
    if (this.chunked !== undefined) this.chunked.push(bytes);
    else this.reader.push(bytes);
  }

  /** @internal BodySink */
  onBody(data: Buffer): void {
    this.reader.push(data);
  }

  /** @internal BodySink: the server ended the response; the socket closes after it. */
  onBodyEnd(): void {
    this.socket.end();
  }

  /** @internal BodySink */
  onBodyError(message: string): void {
    this.fail(`protocol error: ${message}`);
  }

  /** @internal MessageSink */
  onMessage(message: Buffer): void {
    if (this.state === State.open) {
      this.listener.onText(message);
      return;
    }
    if (this.state !== State.hello) return;
    const stream = parseHello(message);
    if (stream === undefined)
      return this.fail(`the stream did not start with its id: ${JSON.stringify(message.toString("utf8", 0, 80))}`);
    this.stream = stream;
    this.state = State.open;
    this.opened = true;
    this.socket.setTimeout(0);
    this.listener.onOpen();
  }

  /** @internal MessageSink */
  onMessageError(message: string): void {
    this.fail(`protocol error: ${message}`);
  }

  private post(): void {
    const frames = this.queue.length <= MAX_FRAMES_PER_POST ? this.queue : this.queue.slice(0, MAX_FRAMES_PER_POST);
    this.queue = frames === this.queue ? [] : this.queue.slice(MAX_FRAMES_PER_POST);
    for (const f of frames) this.queuedBytes -= f.length;
    this.posting = true;
    const body = `{"stream":${JSON.stringify(this.stream)},"frames":[${frames.join(",")}]}`;
    this.options.sender.post(this.options.target, this.sendPath, body, this.options.localAddress, this);
  }

  /** @internal SendOwner */
  onSent(): void {
    this.posting = false;
    if (this.state === State.open && this.queue.length > 0) this.post();
  }

  /** @internal SendOwner */
  onSendFailed(message: string): void {
    this.posting = false;
    this.fail(message);
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
    this.queue = [];
    this.queuedBytes = 0;
    const end: LinkEnd = { code: 1006, reason: "", opened: this.opened };
    if (this.error !== undefined) end.error = this.error;
    if (this.retryAfterMs !== undefined) end.retryAfterMs = this.retryAfterMs;
    this.listener.onEnd(end);
  }
}
