import type { ConnectionSpec } from "../layout.js";
import { Incoming } from "../peers/index.js";
import type { IncomingFrame, ProtocolAdapter } from "../peers/index.js";
import type { EmulationSender } from "../emulation/sender.js";
import { openLink } from "../open-link.js";
import { Transport } from "../transport.js";
import type { Link, LinkEnd, LinkListener } from "../transport.js";
import type { WsTarget } from "../ws/handshake.js";

/** What a {@link BenchConnection} needs from its worker: shared state and event callbacks. */
export interface ConnectionHost {
  readonly adapter: ProtocolAdapter;
  /** One parse target reused by every connection of the worker. */
  readonly incoming: IncomingFrame;
  target(url: string): WsTarget;
  /** Where emulated connections POST their frames. */
  readonly sender: EmulationSender;
  channelName(channel: number): string;
  /** Connected, and subscribed when it subscribes. */
  onReady(conn: BenchConnection): void;
  /** Never became ready. `hint`, when set, says how to fix the server or the options. */
  onFailed(conn: BenchConnection, reason: string, hint: string | undefined): void;
  /** The server asked to come back later (admission control); start again after `delayMs`. */
  onRetry(conn: BenchConnection, delayMs: number): void;
  /** Was ready, then closed. */
  onDropped(conn: BenchConnection, reason: string): void;
  /** A bench publication arrived; its fields are in `host.incoming`. */
  onPublication(conn: BenchConnection): void;
  /** A publish command was answered; `error` describes a refusal. */
  onPublishAck(conn: BenchConnection, error: string | undefined, hint: string | undefined): void;
}

const Phase = { idle: 0, opening: 1, connecting: 2, subscribing: 3, ready: 4, ended: 5 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/** Attempts after which a connection the server keeps sending away counts as failed. */
const MAX_ATTEMPTS = 20;

/**
 * One bench client: opens, sends the adapter's connect, subscribes (when its spec says so),
 * then counts what arrives. Publishing connections also carry their lane's sequence state.
 */
export class BenchConnection implements LinkListener {
  private ws: Link | undefined;
  private phase: Phase = Phase.idle;
  private nextId = 1;
  private connectId = 0;
  private subscribeId = 0;
  private disconnectCode = 0;
  private disconnectReason = "";
  private retryAfterMs = 0;
  /** When the first attempt started (µs, see nowUs). */
  startedUs = 0;
  attempts = 0;
  /** Publisher number within its channel (see ConnectionSpec.lane). */
  readonly lane: number;
  /** Last sequence number published on this lane. */
  seq = 0;
  /** Publish commands awaiting their reply. */
  inFlight = 0;

  constructor(
    private readonly host: ConnectionHost,
    readonly spec: ConnectionSpec,
    /** First sequence-counter slot of this subscriber; -1 when it does not subscribe. */
    readonly slotBase: number,
    /** What carries it: publishers of fanout and cross-node always use WebSocket. */
    readonly transport: Transport,
  ) {
    this.lane = spec.lane;
  }

  /** True when connected (and subscribed) and not closing. */
  get isReady(): boolean {
    return this.phase === Phase.ready;
  }

  /** Bytes waiting in the socket's user-space buffer. */
  get bufferedBytes(): number {
    return this.ws?.bufferedBytes ?? 0;
  }

  /** Opens (or re-opens, after a try-later) the connection. */
  start(): void {
    this.attempts += 1;
    this.phase = Phase.opening;
    this.disconnectCode = 0;
    // Ids count per connection, from 1: a protocol without ids reports its connect as 1, its subscribe as 2.
    this.nextId = 1;
    // Over an emulation the connect frame opens the stream, so its id is taken now.
    const emulated = this.transport !== Transport.websocket;
    if (emulated) this.connectId = this.nextId++;
    this.ws = openLink(
      {
        transport: this.transport,
        target: this.host.target(this.spec.url),
        subprotocol: this.host.adapter.subprotocol,
        localAddress: this.spec.localAddress,
        connectFrame: emulated ? this.host.adapter.connect(this.connectId) : undefined,
        sender: emulated ? this.host.sender : undefined,
      },
      this,
    );
  }

  /** Sends a publish command with `data` on the publishing channel; false when not ready. */
  publish(data: string): boolean {
    if (this.phase !== Phase.ready || this.ws === undefined) return false;
    const frame = this.host.adapter.publish(this.host.channelName(this.spec.publishChannel), data, this.nextId++);
    this.inFlight += 1;
    this.ws.sendText(frame);
    return true;
  }

  /** Closes gracefully; no drop is reported. */
  close(): void {
    this.phase = Phase.ended;
    this.ws?.close();
  }

  /** @internal LinkListener */
  onOpen(): void {
    this.phase = Phase.connecting;
    if (this.transport !== Transport.websocket) return; // the connect frame went with the request
    this.connectId = this.nextId++;
    const frame = this.host.adapter.connect(this.connectId);
    if (frame !== undefined) this.ws?.sendText(frame);
    else if (this.host.adapter.serverGreets !== true) this.subscribe();
    // else the server speaks first: its greeting is the connect's reply.
  }

  private subscribe(): void {
    if (this.spec.subscribeChannel < 0) return this.becomeReady();
    this.phase = Phase.subscribing;
    this.subscribeId = this.nextId++;
    const frame = this.host.adapter.subscribe(this.host.channelName(this.spec.subscribeChannel), this.subscribeId);
    if (frame === undefined) return this.becomeReady();
    this.ws?.sendText(frame);
  }

  private becomeReady(): void {
    this.phase = Phase.ready;
    this.host.onReady(this);
  }

  /** @internal LinkListener */
  onText(payload: Buffer): void {
    const host = this.host;
    const frame = host.incoming;
    switch (host.adapter.parse(payload, frame)) {
      case Incoming.publication:
        if (this.slotBase >= 0) host.onPublication(this);
        return;
      case Incoming.reply:
        if (frame.id === this.connectId && this.phase === Phase.connecting) return this.subscribe();
        if (frame.id === this.subscribeId && this.phase === Phase.subscribing) return this.becomeReady();
        return this.publishAnswered(undefined, 0);
      case Incoming.error:
        return this.onError(frame);
      case Incoming.ping:
        this.ws?.sendText(frame.answer);
        return;
      case Incoming.disconnect:
        this.disconnectCode = frame.closeCode;
        this.disconnectReason = frame.message;
        this.retryAfterMs = frame.retryAfterMs;
        return;
      default:
        return;
    }
  }

  private onError(frame: IncomingFrame): void {
    const operation = frame.id === this.connectId ? "connect" : frame.id === this.subscribeId ? "subscribe" : "publish";
    const reason = `${operation} error ${frame.errorCode}: ${frame.message}`;
    if (operation === "publish") return this.publishAnswered(reason, frame.errorCode);
    if (this.phase === Phase.ready) {
      // The server ended a live connection or subscription in-band (Pusher's pusher:error): a drop.
      this.phase = Phase.ended;
      this.host.onDropped(this, reason);
      this.ws?.close();
      return;
    }
    const channel = this.host.channelName(this.spec.subscribeChannel);
    const hint = this.host.adapter.explainError?.({
      operation,
      code: frame.errorCode,
      message: frame.message,
      channel,
    });
    this.phase = Phase.ended;
    this.host.onFailed(this, reason, hint);
    this.ws?.close();
  }

  private publishAnswered(error: string | undefined, code: number): void {
    if (this.inFlight > 0) this.inFlight -= 1;
    const hint =
      error === undefined
        ? undefined
        : this.host.adapter.explainError?.({
            operation: "publish",
            code,
            message: error,
            channel: this.host.channelName(this.spec.publishChannel),
          });
    this.host.onPublishAck(this, error, hint);
  }

  /** @internal LinkListener */
  onEnd(end: LinkEnd): void {
    const was = this.phase;
    this.phase = Phase.ended;
    this.ws = undefined;
    this.inFlight = 0;
    const code = this.disconnectCode !== 0 ? this.disconnectCode : end.code;
    const reason =
      end.error ??
      `closed ${code}${this.disconnectReason !== "" ? ` ${this.disconnectReason}` : end.reason !== "" ? ` ${end.reason}` : ""}`;
    if (was === Phase.ready) return this.host.onDropped(this, reason);
    if (was === Phase.ended) return;
    // 3008 try_later (or, emulated, HTTP 503 with Retry-After): admission control; come back when it says.
    if (end.retryAfterMs !== undefined && this.attempts < MAX_ATTEMPTS)
      return this.host.onRetry(this, end.retryAfterMs);
    const triesLater = this.host.adapter.triesLater?.(code) ?? code === 3008;
    if (triesLater && this.attempts < MAX_ATTEMPTS) {
      return this.host.onRetry(this, this.retryAfterMs > 0 ? this.retryAfterMs : 1000);
    }
    this.host.onFailed(this, reason, undefined);
  }
}
