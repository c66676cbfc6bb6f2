import { randomUUID } from "node:crypto";
import type { ClientInfo, Command, ErrorBody, Push, Reply } from "@hubcast/protocol";
import {
  CloseCode,
  ErrorCode,
  UnsubscribeCode,
  closeCatalogue,
  shouldReconnect,
  unsubscribeCatalogue,
} from "@hubcast/protocol";
import type { Identity } from "./auth/access.js";
import { ChannelStates } from "./channel-states.js";
import type { SessionCodec } from "./codec.js";
import { handleCommand } from "./commands.js";
import type { NodeContext } from "./context.js";
import type { Subscriber } from "./fanout.js";
import { CommandRateLimit } from "./limits.js";
import type { Flushable } from "./write-batch.js";
import type { Framer, Transport, TransportEvents, TransportName } from "./transport/transport.js";
import type { SessionProtocol } from "./session-protocol.js";

/** Who a connection is before `connect` succeeds: no user, no listed channels. */
const NOT_CONNECTED: Identity = Object.freeze({ user: "", channels: Object.freeze([]) });

/** How long a slow consumer has to read its way to the close frame before its socket is dropped. */
const SLOW_CONSUMER_GRACE_MS = 5_000;

export type SessionState = "connecting" | "authenticating" | "connected" | "closed";

/**
 * One client connection, whatever its transport: decodes its messages, runs its commands,
 * writes its replies and pushes, and cleans up its subscriptions when it ends. All output is
 * framed with its transport's framer and queued here, the same path fan-out uses, so order
 * is kept and every byte counts toward the connection's budget.
 */
export class Session implements Subscriber, Flushable, TransportEvents {
  /** The connection id, unique across the cluster: a UUID, or the id its protocol gave (a Pusher socket id). */
  readonly id: string;
  private currentState: SessionState = "connecting";
  private identity: Identity = NOT_CONNECTED;
  /** Channels subscribed (`true`) or being subscribed (`false`); made on the first subscribe, since many connections never hold one. */
  private subscriptions: ChannelStates | undefined;
  /** Its transport's framer, held here because fan-out reads it for every subscriber. */
  readonly framer: Framer;

  // Liveness bookkeeping, checked by the node-wide sweep (see checkLiveness).
  /** While connecting: the connect deadline; once connected: when the next ping is due (one field, one boxed number per connection). */
  private nextPingAt: number;
  /** When the outstanding ping's pong is due; 0 when none is outstanding. */
  private pongDeadline = 0;
  /** Since when the connection has held no subscription (for the idle timeout); 0 while it holds some. */
  private idleSince = 0;
  /**
   * The command rate limit's state: made by a command, dropped by the liveness sweep once it is
   * at rest (as a new one would be), so an idle connection holds none.
   */
  private rateLimit: CommandRateLimit | undefined;
  private countedUser = false;
  /** Frames waiting for the end of this event-loop turn: one frame, the common case, or several (no array is made for a single frame). */
  private queued: Buffer | Buffer[] | undefined;
  private queuedBytes = 0;
  /** The protocol above the transport when it is not Hubcast's own; see {@link speak}. */
  private protocol: SessionProtocol | undefined;

  /**
   * Adds itself to `registry` (the node's sessions) and leaves it, and gives back its
   * per-address count, when the socket closes.
   */
  constructor(
    private readonly transport: Transport,
    readonly codec: SessionCodec,
    private readonly ctx: NodeContext,
    readonly remoteAddress: string | undefined,
    private readonly registry: Set<Session>,
    id: string = randomUUID(),
  ) {
    this.id = id;
    const now = Date.now();
    this.framer = transport.framer;
    this.nextPingAt = now + ctx.options.connectTimeoutMs;
    ctx.connections.perIp.add(remoteAddress ?? "");
    registry.add(this);
  }

  /** How others see this connection. */
  get clientInfo(): ClientInfo {
    const { user, info } = this.identity;
    return info === undefined ? { client: this.id, user } : { client: this.id, user, info };
  }

  /** The transport this connection came on (for metrics and logs). */
  get transportName(): TransportName {
    return this.transport.name;
  }

  get state(): SessionState {
    return this.currentState;
  }

  /**
   * Hands this connection's messages, and the meaning of its subscriptions ending, to another
   * protocol (set once, before the transport starts reading).
   */
  speak(protocol: SessionProtocol): void {
    this.protocol = protocol;
  }

  /** The client answered the outstanding ping (in its protocol's terms). */
  ponged(): void {
    this.pongDeadline = 0;
  }

  /** This connection's presence entry in `channel` (its protocol may give one per channel). */
  presenceInfo(channel: string): ClientInfo {
    return this.protocol?.presenceInfo(channel) ?? this.clientInfo;
  }

  get isOpen(): boolean {
    return this.currentState !== "closed";
  }

  /** The user id; `""` until connected, and for anonymous connections. */
  get user(): string {
    return this.identity.user;
  }

  /** Channels of `subscribe: "listed"` namespaces the credentials grant (exact, or a prefix ending in `*`). */
  get listedChannels(): readonly string[] {
    return this.identity.channels;
  }

  /** A `connect` is being authenticated; other commands are refused until it ends. */
  beginConnect(): void {
    if (this.currentState === "connecting") this.currentState = "authenticating";
  }

  /** The `connect` in flight failed: the client may try again within its connect deadline. */
  connectFailed(): void {
    if (this.currentState === "authenticating") this.currentState = "connecting";
  }

  /** The `connect` succeeded as `identity`: pings start, and the idle clock with them. */
  connected(identity: Identity, now: number): void {
    this.currentState = "connected";
    this.identity = identity;
    this.countUser();
    this.nextPingAt = now + this.ctx.options.pingIntervalMs;
    this.idleSince = now;
  }

  /** The connection proved who it is after connecting (a Pusher `pusher:signin`): it now counts as `user`. */
  signedIn(user: string): void {
    if (this.countedUser) this.ctx.connections.perUser.remove(this.identity.user);
    this.countedUser = false;
    this.identity = { ...this.identity, user };
    this.countUser();
  }

  /** A `refresh` replaced the credentials, for the same user. */
  refreshed(identity: Identity): void {
    this.identity = { ...identity, user: this.identity.user };
  }

  /**
   * The node-wide sweep's visit (one timer for every connection): closes a connection that never
   * connected in time (3004), missed a pong (3002), outlived its credentials (3005) or sat idle
   * without a subscription for `idleTimeoutMs` (3009; 0 turns that off), and pings one that is due.
   */
  checkLiveness(now: number, idleTimeoutMs: number): void {
    if (this.rateLimit?.atRest(now)) this.rateLimit = undefined;
    const state = this.currentState;
    if (state === "connecting" || state === "authenticating") {
      if (now >= this.nextPingAt) this.close(CloseCode.connectTimeout);
    } else if (state !== "connected") {
      return;
    } else if (this.pongDeadline !== 0 && now >= this.pongDeadline) {
      this.close(CloseCode.noPong);
    } else if (this.identity.expiresAt !== undefined && now >= this.identity.expiresAt) {
      this.close(CloseCode.tokenExpired);
    } else if (this.isIdle(now, idleTimeoutMs)) {
      this.close(CloseCode.idle);
    } else if (now >= this.nextPingAt) {
      this.ping(now);
    }
  }

  /** Connected, without a subscription for longer than the idle timeout. */
  private isIdle(now: number, idleTimeoutMs: number): boolean {
    return (
      idleTimeoutMs > 0 &&
      this.subscriptions === undefined &&
      this.idleSince > 0 &&
      now - this.idleSince >= idleTimeoutMs
    );
  }

  /** `true` when subscribed to `channel`, `false` while the subscribe is in flight, else `undefined`. */
  subscription(channel: string): boolean | undefined {
    return this.subscriptions?.get(channel);
  }

  /** Records a subscription: in flight (`live` false) or complete. */
  setSubscription(channel: string, live: boolean): void {
    this.subscriptions ??= new ChannelStates();
    this.subscriptions.set(channel, live);
  }

  get subscriptionCount(): number {
    return this.subscriptions?.size ?? 0;
  }

  /** The channels this connection is subscribed to, in flight ones left out. */
  *liveChannels(): Iterable<string> {
    if (this.subscriptions === undefined) return;
    for (const [channel, live] of this.subscriptions.entries()) if (live) yield channel;
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
   * and held by the transport) plus input not yet complete (held by the transport). A few
   * field reads, since it runs for every frame fan-out writes.
   */
  private overBudget(): boolean {
    return this.queuedBytes + this.transport.heldBytes > this.ctx.options.maxConnectionBytes;
  }

  /** Writes the queued frames: one write, or one write of several. */
  flush(): void {
    const queued = this.queued;
    if (queued === undefined) return;
    this.queued = undefined;
    this.queuedBytes = 0;
    const transport = this.transport;
    if (transport.destroyed) return;
    if (Array.isArray(queued)) transport.writeMany(queued);
    else transport.write(queued);
  }

  sendResult(command: Command, result: unknown): void {
    this.sendReply({ id: command.id, method: command.method, result } as Reply);
  }

  sendError(id: number, error: ErrorBody): void {
    this.sendReply({ id, error });
  }

  /** A reply, on links whose codec has replies (a one-way stream runs no commands, so it has none). */
  private sendReply(reply: Reply): void {
    const payload = this.codec.encodeReply?.(reply);
    if (payload !== undefined) this.writeFrame(this.ctx.metrics.sentFrame("reply", this.frameOf(payload)));
  }

  /** Writes an event its codec encoded outside the push catalogue (a stream's `subscribed` event). */
  sendEncoded(payload: Uint8Array): void {
    this.writeFrame(this.ctx.metrics.sentFrame("push", this.frameOf(payload)));
  }

  sendPush(push: Push): void {
    this.writeFrame(this.ctx.metrics.sentFrame("push", this.frameOf(this.codec.encodePush(push))));
  }

  /** Frames a reply or push for this connection alone, as its transport frames publications. */
  private frameOf(payload: Uint8Array): Buffer {
    return this.framer.frame(payload, this.codec.binary);
  }

  /**
   * A two-way client is told to subscribe again. A one-way stream cannot be: it is closed
   * (3008, reconnect) after the unsubscribe event, and its client's reconnect resubscribes,
   * recovering from its last position (or saying it could not).
   */
  resubscribeRequired(channel: string): void {
    if (this.subscription(channel) === undefined) return;
    const code = UnsubscribeCode.insufficientState;
    // Another protocol's client has no such push, and cannot recover: it reconnects and resubscribes.
    if (this.protocol === undefined) {
      this.sendPush({
        type: "unsubscribe",
        body: { channel, code, reason: unsubscribeCatalogue[code].name, resubscribe: true },
      });
    }
    this.release(channel);
    if (!this.transport.bidirectional || this.protocol !== undefined)
      this.close(CloseCode.tryLater, `channel "${channel}" was interrupted; reconnect to resume it`);
  }

  /**
   * Sends a `ping` push; a two-way client must answer within pongTimeoutMs. On a one-way link
   * the push is a keepalive its codec encodes (an SSE comment), and nothing is expected back.
   */
  ping(now: number): void {
    if (this.transport.bidirectional) this.pongDeadline = now + this.ctx.options.pongTimeoutMs;
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
    this.transport.close(this.protocol?.closeCode(code) ?? code, reason);
    this.ctx.metrics.disconnected(code);
    // A slow consumer may never read its way to the close frame: drop it after a grace period,
    // so its buffered output is freed. The only per-connection timer, and only on this path.
    if (code === CloseCode.slowConsumer) setTimeout(() => this.transport.terminate(), SLOW_CONSUMER_GRACE_MS).unref();
    this.markClosed();
  }

  /** Drops the socket without a close handshake (a peer that does not answer the close frame). */
  terminate(): void {
    this.transport.terminate();
    this.markClosed();
  }

  /** Counts this connection against its user's connection limit (once connected with a user). */
  private countUser(): void {
    if (this.user === "" || this.countedUser) return;
    this.ctx.connections.perUser.add(this.user);
    this.countedUser = true;
  }

  /** Called when the socket has closed, whoever closed it: releases everything it held. */
  markClosed(): void {
    if (this.currentState === "closed") return;
    this.currentState = "closed";
    if (this.countedUser) this.ctx.connections.perUser.remove(this.user);
    if (this.subscriptions !== undefined) for (const channel of [...this.subscriptions.keys()]) this.release(channel);
    this.protocol?.closed();
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
    if (this.protocol !== undefined) {
      this.protocol.released(channel, live);
      return;
    }
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
      if (this.protocol !== undefined) this.protocol.onMessage(data, isBinary, verdict === "ok");
      else this.handleMessage(data, isBinary, verdict === "ok");
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
    const { commandRatePerSecond, commandBurst, maxRateLimitedCommands } = this.ctx.options;
    if (commandRatePerSecond === 0) return "ok";
    const now = Date.now();
    this.rateLimit ??= new CommandRateLimit(commandRatePerSecond, commandBurst, maxRateLimitedCommands, now);
    const verdict = this.rateLimit.check(now);
    if (verdict === "ok") return verdict;
    this.ctx.metrics.limitRejected("rate");
    if (verdict === "disconnect") this.close(CloseCode.rateLimited);
    return verdict;
  }

  /**
   * A transport ping counts toward the command rate limit like any frame; over the limit it
   * goes unanswered. Its answer goes through {@link writeFrame}, so a client that pings and
   * never reads runs into the memory budget (3003) instead of growing the socket's buffer.
   */
  onPing(reply: Buffer): void {
    if (this.state === "closed") return;
    if (this.countFrame() === "ok") this.writeFrame(reply);
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
    const frame = this.codec.decodeClientFrame?.(data, this.ctx.options);
    if (frame === undefined) {
      this.close(CloseCode.badRequest, "this link takes no messages");
      return;
    }
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
