import { ErrorCode } from "@hubcast/protocol";
import type { Codec, Command, Push, Reply, ServerFrame } from "@hubcast/protocol";
import { HubcastError } from "./errors.js";
import type { CloseInfo } from "./errors.js";
import { toError } from "./emitter.js";
import type { Carrier, CarrierFactory } from "./carrier.js";

type Timer = ReturnType<typeof setTimeout>;

/** Every push except `ping`, which the link answers itself. */
export type AppPush = Exclude<Push, { type: "ping" }>;

/** What a {@link Link} reports. None is called after {@link Link.close}. */
export interface LinkHandlers {
  onOpen(): void;
  onReply(reply: Reply): void;
  onPush(push: AppPush): void;
  /** The connection closed (peer, network, or a failed open). */
  onClose(close: CloseInfo): void;
  /** No frame arrived within the heartbeat deadline; the link should be dropped. */
  onDead(silentMs: number): void;
  /** A connection error or an unreadable frame; the link stays up unless `onClose` follows. */
  onError(error: Error): void;
}

/** What a {@link Link} needs to open. */
export interface LinkOptions {
  url: string;
  /** What carries the frames (a WebSocket, see `webSocketCarrier`). */
  carrier: CarrierFactory;
  handlers: LinkHandlers;
  /** The wire encoding; its subprotocol is the only one offered. */
  codec: Codec;
}

const encoder = new TextEncoder();

// UTF-8 needs at most 3 bytes per UTF-16 code unit, so most frames skip the encoding.
function frameBytes(frame: string | Uint8Array, limit: number): number {
  if (typeof frame !== "string") return frame.length;
  return frame.length * 3 <= limit ? frame.length : encoder.encode(frame).length;
}

/**
 * One connection to a node speaking `hubcast.v1.json` or `hubcast.v1.protobuf` over a
 * {@link Carrier}: decodes frames, answers every `ping` with a `pong`, and watches for a dead
 * link once {@link Link.configure} is called.
 * The constructor throws when the carrier cannot be created (a bad URL, for example).
 */
export class Link {
  readonly codec: Codec;
  private readonly carrier: Carrier;
  private readonly handlers: LinkHandlers;
  private lastFrameAt = Date.now();
  private deadlineMs = 0;
  private heartbeatTimer: Timer | undefined;
  private maxMessageBytes = Number.POSITIVE_INFINITY;
  private heardFrame = false;

  constructor(options: LinkOptions) {
    this.handlers = options.handlers;
    this.codec = options.codec;
    this.carrier = options.carrier(options.url, this.codec, {
      onOpen: () => this.handlers.onOpen(),
      onFrame: (frame) => this.onFrame(frame),
      onClose: (close) => {
        this.stopHeartbeat();
        this.handlers.onClose(close);
      },
      onError: (error) => this.handlers.onError(error),
    });
  }

  /**
   * Encodes and writes one command. Throws a HubcastError (`limitExceeded`, not temporary)
   * for a frame larger than the server's `maxMessageBytes`, which the server would answer by
   * closing the connection (1009), and a HubcastError (`badRequest`) for a request the encoding
   * cannot carry (a non-integer `limit` in Protobuf, say). Frames written after the connection
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
    this.carrier.send(frame);
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

  /** True once a frame came from the node: the carrier reached it (a transport that gets none failed). */
  get heard(): boolean {
    return this.heardFrame;
  }

  /** Closes with 1000 and detaches: no handler is called afterwards. Idempotent. */
  close(reason: string): void {
    this.stopHeartbeat();
    try {
      this.carrier.close(1000, reason);
    } catch (error) {
      this.handlers.onError(toError(error));
    }
  }

  private onFrame(frame: string | Uint8Array): void {
    this.lastFrameAt = Date.now();
    this.heardFrame = true;
    let decoded: ServerFrame;
    try {
      decoded = this.codec.decodeServerFrame(frame);
    } catch (error) {
      this.handlers.onError(toError(error));
      return;
    }
    if (decoded.kind === "reply") this.handlers.onReply(decoded.reply);
    else if (decoded.push.type === "ping") this.carrier.send(this.codec.encodePong());
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

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.deadlineMs = 0;
  }
}
