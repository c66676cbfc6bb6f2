import { ErrorCode } from "@hubcast/protocol";
import type { Codec, Command, Push, Reply, ServerFrame } from "@hubcast/protocol";
import { HubcastError } from "./errors.js";
import type { CloseInfo } from "./errors.js";
import { toError } from "./emitter.js";
import type { WebSocketConstructor, WebSocketLike } from "./options.js";

type Timer = ReturnType<typeof setTimeout>;

/** Every push except `ping`, which the link answers itself. */
export type AppPush = Exclude<Push, { type: "ping" }>;

/** What a {@link Link} reports. None is called after {@link Link.close}. */
export interface LinkHandlers {
  onOpen(): void;
  onReply(reply: Reply): void;
  onPush(push: AppPush): void;
  /** The socket closed (peer, network, or a failed open). */
  onClose(close: CloseInfo): void;
  /** No frame arrived within the heartbeat deadline; the link should be dropped. */
  onDead(silentMs: number): void;
  /** A socket error or an unreadable frame; the link stays up unless `onClose` follows. */
  onError(error: Error): void;
}

/** What a {@link Link} needs to open. */
export interface LinkOptions {
  url: string;
  websocket: WebSocketConstructor;
  handlers: LinkHandlers;
  /** The wire encoding; its subprotocol is the only one offered. */
  codec: Codec;
}

interface MessageEventLike {
  data: unknown;
}
interface CloseEventLike {
  code: number;
  reason: string;
}

const noop = (): void => {};
const encoder = new TextEncoder();

// Longest close reason WebSocket allows is 123 bytes; ASCII reasons under this stay valid.
const MAX_REASON_CHARS = 120;

function frameData(data: unknown): string | Uint8Array | undefined {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

// UTF-8 needs at most 3 bytes per UTF-16 code unit, so most frames skip the encoding.
function frameBytes(frame: string | Uint8Array, limit: number): number {
  if (typeof frame !== "string") return frame.length;
  return frame.length * 3 <= limit ? frame.length : encoder.encode(frame).length;
}

function socketError(event: unknown): Error {
  const detail = (event as { error?: unknown; message?: unknown } | null) ?? {};
  if (detail.error instanceof Error) return detail.error;
  const message = typeof detail.message === "string" && detail.message !== "" ? `: ${detail.message}` : "";
  return new Error(`WebSocket error${message}`);
}

/**
 * One WebSocket connection speaking `hubcast.v1.json` or `hubcast.v1.protobuf`: decodes
 * frames, answers every `ping` with a `pong`, and watches for a dead link once
 * {@link Link.configure} is called.
 * The constructor throws when the WebSocket cannot be created (a bad URL, for example).
 */
export class Link {
  readonly codec: Codec;
  private readonly socket: WebSocketLike;
  private readonly handlers: LinkHandlers;
  private lastFrameAt = Date.now();
  private deadlineMs = 0;
  private heartbeatTimer: Timer | undefined;
  private maxMessageBytes = Number.POSITIVE_INFINITY;

  constructor(options: LinkOptions) {
    this.handlers = options.handlers;
    this.codec = options.codec;
    this.socket = new options.websocket(options.url, this.codec.subprotocol);
    this.socket.binaryType = "arraybuffer";
    this.socket.onopen = () => this.handlers.onOpen();
    this.socket.onmessage = (event: MessageEventLike) => this.onMessage(event.data);
    this.socket.onclose = (event: CloseEventLike) => {
      this.detach();
      this.handlers.onClose({ code: event.code, reason: event.reason });
    };
    this.socket.onerror = (event: unknown) => this.handlers.onError(socketError(event));
  }

  /**
   * Encodes and writes one command. Throws a HubcastError (`limitExceeded`, not temporary)
   * for a frame larger than the server's `maxMessageBytes`, which the server would answer by
   * closing the connection (1009), and a HubcastError (`badRequest`) for a request the encoding
   * cannot carry (a non-integer `limit` in Protobuf, say). Frames written after the socket
   * closed are dropped.
   */
  sendCommand(command: Command): void {
    let frame: string | Uint8Array;
    try {
      frame = this.codec.encodeCommand(command);
    } catch (error) {
      const message = `${command.method}: ${toError(error).message}`;
      throw new HubcastError({ code: ErrorCode.badRequest, message, temporary: false, cause: error });
    }
    const size = frameBytes(frame, this.maxMessageBytes);
    if (size > this.maxMessageBytes) {
      const message = `${command.method} frame is ${size} bytes, over the server's maxMessageBytes ${this.maxMessageBytes}`;
      throw new HubcastError({ code: ErrorCode.limitExceeded, message, temporary: false });
    }
    this.socket.send(frame);
  }

  /**
   * Applies the `connect` reply. Starts dead-link detection: if no frame at all arrives for
   * `pingIntervalMs + pongTimeoutMs` (the server pings every interval and allows itself no more
   * lateness than it allows a pong), `onDead` is called. A server that does not send
   * `pongTimeoutMs` (older ones) gets `2 × pingIntervalMs` plus `min(1000, pingIntervalMs / 2)`.
   * A non-positive interval means the server does not ping: detection stays off. Commands over
   * `maxMessageBytes` are refused from now on.
   */
  configure(limits: { pingIntervalMs: number; pongTimeoutMs?: number; maxMessageBytes: number }): void {
    const { pingIntervalMs, pongTimeoutMs, maxMessageBytes } = limits;
    if (Number.isFinite(maxMessageBytes) && maxMessageBytes > 0) this.maxMessageBytes = maxMessageBytes;
    if (!Number.isFinite(pingIntervalMs) || pingIntervalMs <= 0) return;
    const known = pongTimeoutMs !== undefined && Number.isFinite(pongTimeoutMs) && pongTimeoutMs > 0;
    this.deadlineMs = known ? pingIntervalMs + pongTimeoutMs : pingIntervalMs * 2 + Math.min(1000, pingIntervalMs / 2);
    this.lastFrameAt = Date.now();
    this.armHeartbeat(this.deadlineMs);
  }

  /** Closes with 1000 and detaches: no handler is called afterwards. Idempotent. */
  close(reason: string): void {
    this.detach();
    try {
      this.socket.close(1000, reason.slice(0, MAX_REASON_CHARS));
    } catch (error) {
      this.handlers.onError(toError(error));
    }
  }

  private onMessage(data: unknown): void {
    this.lastFrameAt = Date.now();
    const frame = frameData(data);
    if (frame === undefined) {
      this.handlers.onError(new Error(`unexpected WebSocket message data of type ${typeof data}`));
      return;
    }
    let decoded: ServerFrame;
    try {
      decoded = this.codec.decodeServerFrame(frame);
    } catch (error) {
      this.handlers.onError(toError(error));
      return;
    }
    if (decoded.kind === "reply") this.handlers.onReply(decoded.reply);
    else if (decoded.push.type === "ping") this.socket.send(this.codec.encodePong());
    else this.handlers.onPush(decoded.push);
  }

  // One timer per link, re-armed from the last frame time instead of reset on every frame.
  private armHeartbeat(delayMs: number): void {
    this.heartbeatTimer = setTimeout(() => {
      const silentMs = Date.now() - this.lastFrameAt;
      if (silentMs >= this.deadlineMs) this.handlers.onDead(silentMs);
      else this.armHeartbeat(this.deadlineMs - silentMs);
    }, delayMs);
  }

  // No-op handlers rather than null: `ws` throws an unhandled "error" with no listener.
  private detach(): void {
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.deadlineMs = 0;
    this.socket.onopen = noop;
    this.socket.onmessage = noop;
    this.socket.onclose = noop;
    this.socket.onerror = noop;
  }
}
