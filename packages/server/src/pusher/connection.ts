/**
 * One Pusher client's protocol, above its {@link Session}: reads `pusher:*` and `client-*`
 * messages, checks Pusher's signatures, and keeps what a Pusher connection has that a native
 * one does not (its app, its signed-in user, its presence membership per channel).
 */
import type { ClientInfo, JsonValue } from "@hubcast/protocol";
import { CloseCode, encodeJsonData, parseJsonData } from "@hubcast/protocol";
import type { NodeContext } from "../context.js";
import { TokenBucket } from "../limits.js";
import { userLimitReached } from "../commands.js";
import type { Session } from "../session.js";
import type { SessionProtocol } from "../session-protocol.js";
import type { ResolvedPusherApp } from "./apps.js";
import { channelKind, hubcastChannel, invalidChannelName } from "./channels.js";
import { CLIENT_EVENT_RATE_LIMITED, pusherCloseCode } from "./close-codes.js";
import { dataString, pusherMessage } from "./codec.js";
import type { Envelope } from "./codec.js";
import type { MemberLeaves } from "./member-leaves.js";
import type { MembershipEvents } from "./membership.js";
import type { PusherMetrics } from "./metrics.js";
import { releaseChannel, subscribeChannel } from "./subscriptions.js";
import { validSigninAuth } from "./signatures.js";

/** What every Pusher connection of one app shares. */
export interface PusherAppState {
  readonly app: ResolvedPusherApp;
  /** The Hubcast namespace that holds the app's channels. */
  readonly namespace: string;
  /** The app's connections on this node (for `maxConnections` and terminate_connections). */
  readonly connections: Set<PusherConnection>;
}

/** What a Pusher connection needs of its node. */
export interface PusherContext {
  readonly node: NodeContext;
  /** Where occupancy, membership and client events go (the webhooks). */
  readonly events: MembershipEvents;
  readonly metrics: PusherMetrics;
  /** The presence leaves still being decided on this node: a join of the same user waits for them. */
  readonly leaves: MemberLeaves;
  /** The first live subscriber of a presence channel on this node was shown these members (the reconciler starts from them). */
  readonly membersShown: (hub: string, members: Iterable<ClientInfo>) => void;
}

/** A protocol error told to the client with `pusher:error`; the connection stays open. */
const errorMessage = (message: string, code: number | null = null): Uint8Array =>
  pusherMessage("pusher:error", { code, message });

export class PusherConnection implements SessionProtocol {
  /** Presence membership by Hubcast channel: the entry this connection holds there. */
  readonly members = new Map<string, ClientInfo>();
  /** The user this connection signed in as (`pusher:signin`); `undefined` until then. */
  private signedInUser: string | undefined;
  private clientEventBudget: TokenBucket | undefined;

  constructor(
    readonly session: Session,
    readonly state: PusherAppState,
    readonly ctx: PusherContext,
  ) {}

  get app(): ResolvedPusherApp {
    return this.state.app;
  }

  get socketId(): string {
    return this.session.id;
  }

  get user(): string | undefined {
    return this.signedInUser;
  }

  /** Sends a Pusher message to this client alone. */
  send(payload: Uint8Array): void {
    this.session.sendEncoded(payload);
  }

  onMessage(data: Buffer, binary: boolean, admitted: boolean): void {
    this.session.ponged(); // any message shows the client is there
    if (binary) {
      this.send(errorMessage("binary messages are not supported; send JSON text"));
      return;
    }
    if (!admitted) {
      this.send(errorMessage("messages sent faster than the rate limit; slow down", CLIENT_EVENT_RATE_LIMITED));
      return;
    }
    const parsed = parseJsonData(data, this.ctx.node.options.maxDataDepth);
    const message = parsed.ok ? parsed.value : undefined;
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      this.send(errorMessage(parsed.ok ? "a message is a JSON object" : `the message ${parsed.problem}`));
      return;
    }
    const { event, data: body, channel } = message as Record<string, unknown>;
    if (typeof event !== "string") {
      this.send(errorMessage('a message needs an "event" string'));
      return;
    }
    this.dispatch(event, body, channel);
  }

  private dispatch(event: string, body: unknown, channel: unknown): void {
    const data = decodeData(body);
    switch (event) {
      case "pusher:ping":
        this.send(pusherMessage("pusher:pong", {}));
        return;
      case "pusher:pong":
        return;
      case "pusher:subscribe":
        subscribeChannel(this, data).catch((err: unknown) => this.session.failed(err));
        return;
      case "pusher:unsubscribe":
        if (typeof data?.channel === "string") this.session.release(hubcastChannel(this.state.namespace, data.channel));
        return;
      case "pusher:signin":
        this.signin(data);
        return;
    }
    if (event.startsWith("client-")) {
      this.clientEvent(event, channel, body);
      return;
    }
    this.send(errorMessage(`unknown event ${JSON.stringify(event.slice(0, 100))}`));
  }

  /** `pusher:signin`: checks the backend's signature of `user_data`, then takes its `id` as this connection's user. */
  private signin(data: Record<string, unknown> | undefined): void {
    const userData = data?.user_data;
    const refuse = (reason: string): void => this.session.close(CloseCode.forceDisconnect, reason);
    if (typeof userData !== "string" || !validSigninAuth(this.app, this.socketId, data?.auth, userData)) {
      refuse("invalid signin: the auth signature does not match user_data");
      return;
    }
    const parsed = parseJsonData(Buffer.from(userData), this.ctx.node.options.maxDataDepth);
    const user = parsed.ok ? (parsed.value as Record<string, unknown> | null)?.id : undefined;
    if (typeof user !== "string" || user === "" || invalidChannelName(user) !== undefined) {
      refuse('invalid signin: user_data needs an "id" string of A-Z a-z 0-9 _ - = @ , . ;');
      return;
    }
    if (this.signedInUser !== undefined && this.signedInUser !== user) {
      refuse("already signed in as another user");
      return;
    }
    const limit = this.signedInUser === user ? undefined : userLimitReached(this.ctx.node, user);
    if (limit !== undefined) {
      this.session.close(CloseCode.connectionLimit, limit);
      return;
    }
    this.signedInUser = user;
    this.session.signedIn(user);
    this.send(pusherMessage("pusher:signin_success", { user_data: userData }));
  }

  /** A `client-` event: only on private and presence channels the connection has joined, when the app allows them. */
  private clientEvent(event: string, channel: unknown, data: unknown): void {
    const app = this.app;
    if (!app.clientEvents) {
      this.send(errorMessage("client events are not enabled for this app (set clientEvents: true)"));
      return;
    }
    if (typeof channel !== "string" || invalidChannelName(channel) !== undefined) {
      this.send(errorMessage('a client event needs the "channel" it is sent on'));
      return;
    }
    const kind = channelKind(channel);
    const hub = hubcastChannel(this.state.namespace, channel);
    if (!kind.authorized || kind.encrypted || this.session.subscription(hub) !== true) {
      this.send(
        errorMessage(
          `client events go to private and presence channels this connection has joined, not to "${channel}"`,
        ),
      );
      return;
    }
    this.clientEventBudget ??= new TokenBucket(app.maxClientEventsPerSecond, app.maxClientEventsPerSecond, Date.now());
    if (!this.clientEventBudget.take(Date.now())) {
      this.ctx.node.metrics.limitRejected("client_events");
      this.send(errorMessage("client event rejected: rate limit", CLIENT_EVENT_RATE_LIMITED));
      return;
    }
    const text = dataString(data ?? null);
    if (Buffer.byteLength(text) > app.maxEventBytes) {
      this.send(errorMessage(`client event data is larger than ${app.maxEventBytes} bytes`));
      return;
    }
    const member = this.members.get(hub);
    const envelope: Envelope = { event, data: data ?? null, socket_id: this.socketId };
    if (member !== undefined) envelope.user_id = member.user;
    const options = this.ctx.node.rules.lookup(hub);
    if (!options.ok) return; // cannot happen: the channel was subscribed
    const info = member ?? this.session.clientInfo;
    this.ctx.node.publisher
      .publish("client", { channel: hub, data: encodeJsonData(envelope), info }, options.options.history)
      .then(
        () => {
          this.ctx.metrics.published(app.id, "client");
          this.ctx.events.clientEvent(app, {
            channel,
            event,
            data: text,
            socketId: this.socketId,
            userId: member?.user,
          });
        },
        () => this.send(errorMessage("client event not delivered: the engine is unavailable; retry")),
      );
  }

  released(channel: string, live: boolean): void {
    releaseChannel(this, channel, live);
  }

  presenceInfo(channel: string): ClientInfo {
    return this.members.get(channel) ?? this.session.clientInfo;
  }

  closeCode(code: number): number {
    return pusherCloseCode(code);
  }

  closed(): void {
    this.state.connections.delete(this);
  }
}

/** A message's `data`: an object, or a JSON string of one (some clients double-encode). */
function decodeData(body: unknown): Record<string, unknown> | undefined {
  let value: unknown = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body) as JsonValue;
    } catch {
      return undefined;
    }
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
