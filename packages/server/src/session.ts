import { randomUUID } from "node:crypto";
import type { ClientInfo, Codec, Command, ErrorBody, JsonValue, Push } from "@hubcast/protocol";
import {
  CloseCode,
  ErrorCode,
  UnsubscribeCode,
  closeCatalogue,
  shouldReconnect,
  unsubscribeCatalogue,
} from "@hubcast/protocol";
import { handleCommand } from "./commands.js";
import type { NodeContext } from "./context.js";
import type { Subscriber } from "./fanout.js";
import { CommandRateLimit } from "./limits.js";
import type { Flushable } from "./write-batch.js";
import type { ConnectionHandler, WebSocketConnection } from "./transport/connection.js";
import type { MessageDeflater } from "./transport/deflate.js";
import { buildFrame, pongFrame } from "./transport/frame.js";

/** How long a slow consumer has to read its way to the close frame before its socket is dropped. */
const SLOW_CONSUMER_GRACE_MS = 5_000;

export type SessionState = "connecting" | "authenticating" | "connected" | "closed";

/**
 * One client connection: decodes its frames, runs its commands, writes its replies and
 * pushes, and cleans up its subscriptions when it ends. All output is framed here and
 * written to the raw socket, the same path fan-out uses, so order is kept.
 */
export class Session implements Subscriber, Flushable, ConnectionHandler {
  readonly id = randomUUID();
  state: SessionState = "connecting";
  user = "";
  userInfo: JsonValue | undefined;
  /** Channels of `subscribe: "listed"` namespaces the credentials grant (exact, or a prefix ending in `*`). */
  listedChannels: readonly string[] = [];
  /** When the credentials expire, in ms since the Unix epoch (the sweep then closes with 3005); 0 for never. */
  expiresAt = 0;
  /** Channels subscribed (`true`) or being subscribed (`false`); made on the first subscribe, since many connections never hold one. */
  private subscriptions: Map<string, boolean> | undefined;
  /** The node's deflater if this connection negotiated permessage-deflate, else `undefined` (see {@link Subscriber.deflater}). */
  readonly deflater: MessageDeflater | undefined;

  // Heartbeat bookkeeping, read and written by the node-wide sweep.
  connectDeadline: number;
  nextPingAt = 0;
  /** When the outstanding ping's pong is due; 0 when none is outstanding. */
  pongDeadline = 0;
  /** Since when the connection has held no subscription (for the idle timeout); 0 while it holds some. */
  idleSince = 0;
  private readonly rateLimit: CommandRateLimit | undefined;
  private countedUser = false;
  /** Frames waiting for the end of this event-loop turn: one frame, the common case, or several (no array is made for a single frame). */
  private queued: Buffer | Buffer[] | undefined;
  private queuedBytes = 0;

  /**
   * Adds itself to `registry` (the node's sessions) and leaves it, and gives back its
   * per-address count, when the socket closes.
   */
  constructor(
    private readonly connection: WebSocketConnection,
    readonly codec: Codec,
    private readonly ctx: NodeContext,
    readonly remoteAddress: string | undefined,
    private readonly registry: Set<Session>,
  ) {
    const now = Date.now();
    this.deflater = connection.deflate ? ctx.deflater : undefined;
    this.connectDeadline = now + ctx.options.connectTimeoutMs;
    const { commandRatePerSecond, commandBurst, maxRateLimitedCommands } = ctx.options;
    if (commandRatePerSecond > 0)
      this.rateLimit = new CommandRateLimit(commandRatePerSecond, commandBurst, maxRateLimitedCommands, now);
    ctx.connections.perIp.add(remoteAddress ?? "");
    registry.add(this);
  }

  /** How others see this connection. */
  get clientInfo(): ClientInfo {
    return this.userInfo === undefined
      ? { client: this.id, user: this.user }
      : { client: this.id, user: this.user, info: this.userInfo };
  }

  get isOpen(): boolean {
    return this.state !== "closed";
  }

  /** `true` when subscribed to `channel`, `false` while the subscribe is in flight, else `undefined`. */
  subscription(channel: string): boolean | undefined {
    return this.subscriptions?.get(channel);
  }

  /** Records a subscription: in flight (`live` false) or complete. */
  setSubscription(channel: string, live: boolean): void {
    this.subscriptions ??= new Map();
    this.subscriptions.set(channel, live);
  }

  get subscriptionCount(): number {
    return this.subscriptions?.size ?? 0;
  }

  /** The channels this connection is subscribed to, in flight ones left out. */
  *liveChannels(): Iterable<string> {
    if (this.subscriptions === undefined) return;
    for (const [channel, live] of this.subscriptions) if (live) yield channel;
  }

  /**
   * Queues a frame; queued frames go out together at the end of this event-loop turn. Past the
   * connection's memory budget the frame is dropped and the connection closed with 3003.
   */
  writeFrame(frame: Buffer): void {
    if (this.state === "closed") return;
    if (this.overBudget()) {
      this.close(CloseCode.slowConsumer);
      return;
    }
    const queued = this.queued;
    if (queued === undefined) {
      this.queued = frame;
      this.ctx.writes.add(this);
    } else if (Array.isArray(queued)) {
      queued.push(frame);
    } else {
      this.queued = [queued, frame];
    }
    this.queuedBytes += frame.length;
  }

  /**
   * Whether this connection holds more than maxConnectionBytes: output not yet sent (queued here
   * and in the socket's buffer) plus input not yet complete (held by the frame reader). Three
   * field reads, since it runs for every frame fan-out writes.
   */
  private overBudget(): boolean {
    const connection = this.connection;
    return (
      this.queuedBytes + connection.socket.writableLength + connection.heldBytes > this.ctx.options.maxConnectionBytes
    );
  }

  /** Writes the queued frames: one write, or one corked writev for several. */
  flush(): void {
    const queued = this.queued;
    if (queued === undefined) return;
    this.queued = undefined;
    this.queuedBytes = 0;
    const socket = this.connection.socket;
    if (socket.destroyed) return;
    if (!Array.isArray(queued)) {
      socket.write(queued);
      return;
    }
    socket.cork();
    for (const frame of queued) socket.write(frame);
    socket.uncork();
  }

  sendResult(command: Command, result: unknown): void {
    const reply = { id: command.id, method: command.method, result } as Parameters<Codec["encodeReply"]>[0];
    this.writeFrame(this.ctx.metrics.sentFrame("reply", this.frameOf(this.codec.encodeReply(reply))));
  }

  sendError(id: number, error: ErrorBody): void {
    this.writeFrame(this.ctx.metrics.sentFrame("reply", this.frameOf(this.codec.encodeReply({ id, error }))));
  }

  sendPush(push: Push): void {
    this.writeFrame(this.ctx.metrics.sentFrame("push", this.frameOf(this.codec.encodePush(push))));
  }

  /** Frames a reply or push for this connection alone: compressed like publications when it negotiated compression and the payload reaches the threshold. */
  private frameOf(payload: Uint8Array): Buffer {
    return this.deflater?.frame(payload, this.codec.binary) ?? buildFrame(payload, this.codec.binary);
  }

  resubscribeRequired(channel: string): void {
    if (this.subscription(channel) === undefined) return;
    const code = UnsubscribeCode.insufficientState;
    this.sendPush({
      type: "unsubscribe",
      body: { channel, code, reason: unsubscribeCatalogue[code].name, resubscribe: true },
    });
    this.release(channel);
  }

  /** Sends a `ping` push and expects a pong within pongTimeoutMs. */
  ping(now: number): void {
    this.pongDeadline = now + this.ctx.options.pongTimeoutMs;
    this.nextPingAt = now + this.ctx.options.pingIntervalMs;
    this.sendPush({ type: "ping", body: {} });
  }

  /** Closes with a catalogue code, telling the client why first with a `disconnect` push. */
  close(code: CloseCode, reason = closeCatalogue[code].name): void {
    if (this.state === "closed") return;
    if (code !== CloseCode.slowConsumer) {
      this.sendPush({ type: "disconnect", body: { code, reason, reconnect: shouldReconnect(code) } });
    }
    this.ctx.logger.debug({ client: this.id, code, reason }, "closing connection");
    if (code !== CloseCode.slowConsumer) this.flush(); // what was queued goes before the close frame
    this.connection.close(code, reason);
    this.ctx.metrics.disconnected(code);
    // A slow consumer may never read its way to the close frame: drop it after a grace period,
    // so its buffered output is freed. The only per-connection timer, and only on this path.
    if (code === CloseCode.slowConsumer) setTimeout(() => this.connection.terminate(), SLOW_CONSUMER_GRACE_MS).unref();
    this.markClosed();
  }

  /** Drops the socket without a close handshake (a peer that does not answer the close frame). */
  terminate(): void {
    this.connection.terminate();
    this.markClosed();
  }

  /** Counts this connection against its user's connection limit (once connected with a user). */
  countUser(): void {
    if (this.user === "" || this.countedUser) return;
    this.ctx.connections.perUser.add(this.user);
    this.countedUser = true;
  }

  /** Called when the socket has closed, whoever closed it: releases everything it held. */
  markClosed(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    if (this.countedUser) this.ctx.connections.perUser.remove(this.user);
    if (this.subscriptions !== undefined) for (const channel of this.subscriptions.keys()) this.release(channel);
  }

  /**
   * Ends one subscription: hub and presence, and for a live one the leave push. Presence is
   * removed for pending ones too, since their entry may already be written.
   */
  release(channel: string): void {
    const live = this.subscriptions?.get(channel);
    if (live === undefined) return;
    this.subscriptions?.delete(channel);
    if (this.subscriptions?.size === 0) {
      this.subscriptions = undefined;
      this.idleSince = Date.now();
    }
    this.ctx.hub.remove(channel, this);
    const lookup = this.ctx.rules.lookup(channel);
    if (!lookup.ok) return;
    const { engine, logger } = this.ctx;
    if (lookup.options.presence) {
      engine.presence
        .remove(channel, this.id)
        .catch((err: unknown) => logger.warn({ err, channel }, "presence remove failed"));
    }
    if (live && lookup.options.joinLeave) {
      engine.broker
        .publishLeave(channel, this.clientInfo)
        .catch((err: unknown) => logger.warn({ err, channel }, "leave push failed"));
    }
  }

  onProtocolError(code: number, message: string): void {
    this.ctx.metrics.disconnected(code);
    this.ctx.logger.debug({ client: this.id, code, message }, "closing connection: WebSocket protocol error");
    this.markClosed();
  }

  onClosed(code: number): void {
    this.markClosed();
    this.registry.delete(this);
    this.ctx.connections.perIp.remove(this.remoteAddress ?? "");
    this.ctx.logger.debug({ client: this.id, code }, "connection closed");
  }

  /**
   * Every frame counts toward the command rate limit, valid or not: a flood of malformed
   * frames costs its sender the same as a flood of commands. Refused commands are answered
   * 112; refused frames that carry no id are dropped (a pong still counts as answered, so a
   * limited client is not also closed for a missing pong). An unexpected error while handling
   * the frame ends this connection only (3001), never the node.
   */
  onMessage(data: Buffer, isBinary: boolean): void {
    if (this.state === "closed") return;
    const verdict = this.countFrame();
    if (verdict === "disconnect") return;
    try {
      this.handleMessage(data, isBinary, verdict === "ok");
    } catch (err) {
      this.failed(err);
    }
  }

  /**
   * Counts one frame from the client against the rate limit. `refuse`: over the limit, the
   * frame is refused (counted in the metric here); `disconnect`: sustained abuse, and the
   * connection is already closed with 3006.
   */
  private countFrame(): "ok" | "refuse" | "disconnect" {
    const verdict = this.rateLimit?.check(Date.now()) ?? "ok";
    if (verdict === "ok") return verdict;
    this.ctx.metrics.limitRejected("rate");
    if (verdict === "disconnect") this.close(CloseCode.rateLimited);
    return verdict;
  }

  /**
   * A ping counts toward the command rate limit like any frame; over the limit it goes
   * unanswered. Its pong goes through {@link writeFrame}, so a client that pings and never
   * reads runs into the memory budget (3003) instead of growing the socket's buffer.
   */
  onPing(payload: Buffer): void {
    if (this.state === "closed") return;
    if (this.countFrame() === "ok") this.writeFrame(pongFrame(payload));
  }

  /** Unfinished input grew: past the budget the connection is closed like a slow consumer (3003). */
  onHeldBytesGrew(): void {
    if (this.state !== "closed" && this.overBudget()) this.close(CloseCode.slowConsumer);
  }

  private handleMessage(data: Buffer, isBinary: boolean, admitted: boolean): void {
    if (isBinary !== this.codec.binary) {
      this.ctx.metrics.received("invalid", data.length);
      this.close(CloseCode.badRequest, `expected ${this.codec.binary ? "binary" : "text"} frames`);
      return;
    }
    const frame = this.codec.decodeClientFrame(data, this.ctx.options);
    this.ctx.metrics.received(frame.kind, data.length);
    if (frame.kind === "pong") {
      this.pongDeadline = 0;
      return;
    }
    const id = frame.kind === "command" ? frame.command.id : frame.id;
    if (!admitted) {
      if (id !== undefined)
        this.sendError(id, {
          code: ErrorCode.tooManyRequests,
          message: "frames sent faster than the rate limit; slow down",
          temporary: true,
        });
      return;
    }
    if (frame.kind === "invalid") {
      if (frame.id === undefined) this.close(CloseCode.badRequest, frame.message);
      else this.sendError(frame.id, { code: frame.code, message: frame.message, temporary: false });
      return;
    }
    if (this.state !== "connected" && frame.command.method !== "connect") {
      this.sendError(frame.command.id, {
        code: ErrorCode.notConnected,
        // Commands are not queued behind a connect in flight (docs/protocol.md); say why it failed.
        message:
          this.state === "authenticating"
            ? "wait for the connect reply before sending other commands"
            : "send connect first",
        temporary: false,
      });
      return;
    }
    handleCommand(this, frame.command, this.ctx);
  }

  onUnexpectedError(err: unknown): void {
    this.failed(err);
  }

  /**
   * The connection's fault boundary: an error nobody expected while serving this connection
   * (a bug, or input that reached a path it should not have). It is logged once, counted, and
   * ends this connection with 3001; the node and its other connections carry on.
   */
  failed(err: unknown): void {
    this.ctx.metrics.unexpectedError("connection");
    this.ctx.logger.error({ err, client: this.id }, "unexpected error while serving a connection; closing it (3001)");
    try {
      this.close(CloseCode.serverError);
    } catch {
      // Even the disconnect push could not be built: drop the socket without one.
      this.terminate();
    }
  }
}
