import { ErrorCode } from "@hubcast/protocol";
import type {
  DeltaType,
  HistoryResult,
  JoinLeavePush,
  JsonValue,
  MembersPush,
  Method,
  Methods,
  PresenceResult,
  PresenceStatsResult,
  PublicationPush,
  PublishResult,
  StreamPosition,
  SubscribeRequest,
  SubscribeResult,
} from "@hubcast/protocol";
import { Backoff } from "./backoff.js";
import type { BackoffOptions } from "./backoff.js";
import { Emitter, toError } from "./emitter.js";
import type { ErrorEvent } from "./emitter.js";
import { DeltaBase, appPublication } from "./delta-base.js";
import { ClientClosedError, ConnectionClosedError, HubcastError, TimeoutError } from "./errors.js";
import type { CloseInfo } from "./errors.js";
import type { AppPush } from "./link.js";
import { LocalCode } from "./local-code.js";
import type { PublishOptions } from "./publish.js";
import { waitUntil } from "./wait.js";

type Timer = ReturnType<typeof setTimeout>;

/** Most pushes kept while a subscribe reply is being handled. */
const MAX_EARLY_PUSHES = 10_000;

/**
 * `unsubscribed` → `subscribing` (waiting for a connection or a reply) → `subscribed`.
 * - `"unsubscribed"`: not wanted: before `subscribe()`, after `unsubscribe()`, after a final
 *   subscribe error or a server `unsubscribe` push without `resubscribe`. The position is forgotten.
 * - `"subscribing"`: wanted but not (yet, or no longer) confirmed: waiting for a connection, a
 *   `subscribe` reply, or a retry after a temporary error. Returns here whenever the connection drops.
 * - `"subscribed"`: the server confirmed; publications, join and leave events flow.
 */
export type SubscriptionState = "unsubscribed" | "subscribing" | "subscribed";

/** Payload of `"subscribed"`. */
export interface SubscribedEvent {
  /** The channel keeps history, so positions and recovery apply. */
  recoverable: boolean;
  /** Present when `since` was sent: were all missed publications recovered (and already emitted)? */
  recovered?: boolean;
  /** The position after this subscribe, including recovered publications. */
  position?: StreamPosition;
  /** This subscribe sent `since`, asking the server to recover missed publications. */
  wasRecovering: boolean;
  /** Present when the subscription asked for deltas: whether the namespace granted them (`allowDelta`). */
  delta?: boolean;
}

/**
 * Events of a {@link Subscription}, for `subscription.on(name, (payload) => …)`; `code` values
 * below 100 are described by {@link LocalCode}.
 */
export interface SubscriptionEvents {
  /** Entered `subscribing`: `subscribe()` was called, or the connection was lost. */
  subscribing: CloseInfo;
  /** Entered `subscribed`; recovered publications were emitted just before this. */
  subscribed: SubscribedEvent;
  /** Entered `unsubscribed`: `unsubscribe()`, a server `unsubscribe` push, or a final subscribe error. */
  unsubscribed: CloseInfo;
  /** A publication, in channel order, each exactly once while subscribed (recovery included). */
  publication: PublicationPush;
  /**
   * A client subscribed to the channel (namespaces with `joinLeave`), with its `info`; this
   * connection's own subscription included. Joins and leaves come in the order the server heard them, leaves
   * of one server period before its joins, up to the node's `joinLeaveIntervalMs` late.
   */
  join: JoinLeavePush;
  /** A client unsubscribed or disconnected (namespaces with `joinLeave`), with its `info`. */
  leave: JoinLeavePush;
  /**
   * More clients joined or left in one server period than the server lists (its
   * `joinLeaveMaxEntries`): only how many, and no `join`/`leave` events for them. Call
   * `presence()` if you need to know who is there now.
   */
  membersSummary: MembersSummaryEvent;
  /**
   * `{ error }`: a subscribe attempt failed (a temporary {@link HubcastError} is retried with
   * backoff; a final one comes just after the `unsubscribed` it caused), `getToken` rejected, an `unsubscribe`
   * failed, or one of this subscription's listeners threw.
   */
  error: ErrorEvent;
}

/** Payload of `"membersSummary"`: how many joins and leaves one server period held. */
export interface MembersSummaryEvent {
  /** The subscription's channel. */
  channel: string;
  /** Subscriptions that started in the period. */
  joins: number;
  /** Subscriptions that ended in the period. */
  leaves: number;
}

/** Options of `history()`. */
export interface HistoryOptions {
  /** Most publications to return; 0 returns only the position. @default the server's maximum */
  limit?: number;
  /** Only publications after this position (same epoch). */
  since?: StreamPosition;
  /** Newest first. @default false */
  reverse?: boolean;
}

/** Options of `client.newSubscription(channel, options)`. */
export interface SubscriptionOptions {
  /**
   * Supplies a channel token for namespaces with `subscribe: "token"`: called before every
   * subscribe and resubscribe, its result is sent as `subscribe`'s `token`. A rejection counts
   * as a temporary failure (retried with backoff, reported as an `"error"` event).
   */
  getToken?: (channel: string) => Promise<string>;
  /**
   * Asks for publications as deltas against the previous one (`"fossil"`), which saves bandwidth
   * when each publication is a slightly changed version of the last (a document, a game state).
   * The SDK applies them: `publication` events carry full data either way. Granted only where
   * the namespace has `allowDelta` (see the `subscribed` event's `delta`); elsewhere
   * publications simply come in full. A delta that does not apply (it carries a checksum) is
   * never shown: the subscription resubscribes from its last position instead (code
   * {@link LocalCode.deltaFailed}), recovering what it missed where the channel keeps history.
   */
  delta?: DeltaType;
}

/** @internal What a {@link Subscription} needs from its client. */
export interface SubscriptionHost {
  isConnected(): boolean;
  readonly timeoutMs: number;
  readonly backoff: BackoffOptions;
  call<M extends Method>(method: M, request: Methods[M]["request"]): Promise<Methods[M]["result"]>;
  /** The client's publish, resends included. */
  publish(channel: string, data: JsonValue, options: PublishOptions): Promise<PublishResult>;
  /** Drop the connection and reconnect, resubscribing everything. */
  reconnect(close: CloseInfo): void;
}

/**
 * One channel subscription, made with {@link Client.newSubscription}. It stays wanted
 * across reconnects: after every successful connect it resubscribes, sending `since` = its
 * last position when it has one, so missed publications arrive (in order, before
 * `"subscribed"`) or `recovered: false` says the app must refetch. Events:
 * {@link SubscriptionEvents}.
 *
 * @example
 * ```ts
 * const sub = client.newSubscription("chat:lobby");
 * sub.on("publication", ({ data, offset }) => console.log(offset, data));
 * sub.on("subscribed", ({ wasRecovering, recovered }) => {
 *   if (wasRecovering && !recovered) refetch(); // too much was missed: reload the state
 * });
 * sub.subscribe();
 * ```
 */
export class Subscription extends Emitter<SubscriptionEvents> {
  /** The channel name. */
  readonly channel: string;
  private readonly host: SubscriptionHost;
  private readonly getToken: ((channel: string) => Promise<string>) | undefined;
  private readonly delta: DeltaType | undefined;
  /** The data the next delta applies to; only for subscriptions that ask for deltas. */
  private readonly deltaBase: DeltaBase | undefined;
  private readonly retryBackoff: Backoff;
  private currentState: SubscriptionState = "unsubscribed";
  private lastPosition: StreamPosition | undefined;
  // Bumped on every attempt and state change; replies to an older attempt are ignored.
  private generation = 0;
  // The server may hold this subscription on the current connection (subscribe sent, not refused).
  private maybeOnServer = false;
  private retryTimer: Timer | undefined;
  private removed = false;
  /** Pushes that arrived while a subscribe was in flight, replayed once it settles. */
  private early: AppPush[] = [];

  /** @internal Use `client.newSubscription(channel, options)`. Throws a TypeError for unusable options. */
  constructor(channel: string, host: SubscriptionHost, options: SubscriptionOptions = {}) {
    super();
    if (options.getToken !== undefined && typeof options.getToken !== "function") {
      throw new TypeError(`getToken must be a function when given, got ${typeof options.getToken}`);
    }
    if (options.delta !== undefined && options.delta !== "fossil") {
      throw new TypeError(`delta must be "fossil" when given, got ${JSON.stringify(options.delta)}`);
    }
    this.channel = channel;
    this.host = host;
    this.getToken = options.getToken;
    this.delta = options.delta;
    this.deltaBase = options.delta === undefined ? undefined : new DeltaBase();
    this.retryBackoff = new Backoff(host.backoff);
  }

  /** The current state; see {@link SubscriptionState}. */
  get state(): SubscriptionState {
    return this.currentState;
  }

  /** The last position seen (a copy); `undefined` when the channel has no history or before the first subscribe. */
  get position(): StreamPosition | undefined {
    return this.lastPosition === undefined ? undefined : { ...this.lastPosition };
  }

  /** Starts subscribing (now if connected, else on connect). Idempotent. Throws after removal. */
  subscribe(): void {
    if (this.removed) {
      throw new Error(`the subscription to "${this.channel}" was removed; call client.newSubscription() again`);
    }
    if (this.currentState !== "unsubscribed") return;
    this.currentState = "subscribing";
    if (this.host.isConnected()) this.sendSubscribe();
    this.emit("subscribing", { code: LocalCode.connectCalled, reason: "subscribe called" });
  }

  /** Stops the subscription and forgets its position; tells the server when connected. Idempotent. */
  unsubscribe(): void {
    if (this.currentState === "unsubscribed") return;
    this.setUnsubscribed({ code: LocalCode.disconnectCalled, reason: "unsubscribe called" }, { tellServer: true });
  }

  /**
   * Resolves when `subscribed`; rejects on `unsubscribed` (a {@link HubcastError} with the
   * `unsubscribed` event's code and reason) or after `timeoutMs` (a {@link TimeoutError}).
   * @param timeoutMs How long to wait, in ms; the client's `timeoutMs` when omitted.
   */
  ready(timeoutMs: number = this.host.timeoutMs): Promise<void> {
    if (this.currentState === "subscribed") return Promise.resolve();
    return waitUntil(this, {
      timeoutMs,
      what: `subscription to "${this.channel}"`,
      resolveOn: "subscribed",
      rejectOn: "unsubscribed",
      toError: (e) => new HubcastError({ code: e.code, message: e.reason, temporary: false }),
    });
  }

  /**
   * Publishes to this channel (subscribed or not), as {@link Client.publish} does.
   * @param data Any JSON value, within the server's size limit.
   * @param options Your own idempotency key, to make your own retries safe too.
   */
  publish(data: JsonValue, options: PublishOptions = {}): Promise<PublishResult> {
    return this.host.publish(this.channel, data, options);
  }

  /**
   * This channel's history, as {@link Client.history}.
   * @param options How many publications, from where, in which order.
   */
  history(options: HistoryOptions = {}): Promise<HistoryResult> {
    return this.host.call("history", { ...options, channel: this.channel });
  }

  /** Who is in this channel, as {@link Client.presence}. */
  presence(): Promise<PresenceResult> {
    return this.host.call("presence", { channel: this.channel });
  }

  /** How many clients and users are in this channel, as {@link Client.presenceStats}. */
  presenceStats(): Promise<PresenceStatsResult> {
    return this.host.call("presence_stats", { channel: this.channel });
  }

  /** @internal The client connected: (re)subscribe if wanted. */
  _onConnected(): void {
    if (this.currentState !== "subscribing") return;
    this.clearRetry();
    this.sendSubscribe();
  }

  /** @internal The connection is gone; a wanted subscription waits for the next one. */
  _onConnectionLost(close: CloseInfo): void {
    this.generation += 1;
    this.early = [];
    this.maybeOnServer = false;
    this.clearRetry();
    if (this.currentState !== "subscribed") return;
    this.currentState = "subscribing";
    this.emit("subscribing", close);
  }

  /** @internal A push for this channel. Publications and join/leave count only while subscribed. */
  _onPush(push: AppPush): void {
    if (push.type === "unsubscribe") {
      if (this.currentState === "unsubscribed") return;
      const close = { code: push.body.code, reason: push.body.reason };
      if (push.body.resubscribe) this.resubscribe(close);
      else this.setUnsubscribed(close);
      return;
    }
    if (this.currentState === "subscribing") {
      // The server sends live publications only after the subscribe reply, but with `ws` on
      // Node several frames arrive in one tick, before the reply's promise settles: keep them.
      if (this.maybeOnServer && this.early.length < MAX_EARLY_PUSHES) this.early.push(push);
      return;
    }
    if (this.currentState !== "subscribed") return;
    if (push.type === "publication") {
      const publication = this.resolve(push.body);
      if (publication === undefined) return;
      this.advance(publication.offset, this.lastPosition?.epoch);
      this.emit("publication", publication);
    } else if (push.type === "members") {
      this.emitMembers(push.body);
    } else if (push.type === "join" || push.type === "leave") {
      this.emit(push.type, push.body);
    }
  }

  /** One event per member, leaves first (the server's rule); this connection's own join included, as a single join push always was. */
  private emitMembers({ channel, leaves, joins, summary }: MembersPush): void {
    if (summary !== undefined) {
      this.emit("membersSummary", { channel, joins: summary.joins, leaves: summary.leaves });
      return;
    }
    const generation = this.generation;
    // A listener may unsubscribe: what follows is no longer for it.
    const current = (): boolean => generation === this.generation && this.currentState === "subscribed";
    for (const info of leaves) {
      if (!current()) return;
      this.emit("leave", { channel, info });
    }
    for (const info of joins) {
      if (!current()) return;
      this.emit("join", { channel, info });
    }
  }

  /** @internal The client forgot this subscription; it can no longer subscribe. */
  _remove(): void {
    this.removed = true;
    this.unsubscribe();
  }

  // The server dropped the subscription but asks for it back: subscribe again with the last
  // position, so recovery fills whatever the server lost.
  private resubscribe(close: CloseInfo): void {
    this.generation += 1;
    this.early = [];
    this.maybeOnServer = false;
    this.clearRetry();
    this.currentState = "subscribing";
    this.emit("subscribing", close);
    if (this.currentState === "subscribing" && this.host.isConnected()) this.sendSubscribe();
  }

  private sendSubscribe(): void {
    const generation = ++this.generation;
    this.early = [];
    const getToken = this.getToken;
    if (getToken === undefined) {
      this.subscribeWith(generation, undefined);
      return;
    }
    void Promise.resolve()
      .then(() => getToken(this.channel))
      .then((token: unknown) => {
        if (typeof token !== "string")
          throw new TypeError(`getToken for "${this.channel}" must resolve to a string, got ${typeof token}`);
        return token;
      })
      .then(
        (token) => {
          // A connection lost or an unsubscribe meanwhile made this attempt stale.
          if (generation === this.generation && this.host.isConnected()) this.subscribeWith(generation, token);
        },
        (error: unknown) => {
          if (generation !== this.generation) return;
          this.scheduleRetry();
          this.emit("error", { error: toError(error) });
        },
      );
  }

  private subscribeWith(generation: number, token: string | undefined): void {
    const since = this.lastPosition;
    const request: SubscribeRequest =
      since === undefined ? { channel: this.channel } : { channel: this.channel, since };
    if (token !== undefined) request.token = token;
    if (this.delta !== undefined) request.delta = this.delta;
    this.deltaBase?.reset(); // the server starts this subscription in full
    this.maybeOnServer = true;
    void this.host.call("subscribe", request).then(
      (result) => {
        if (generation === this.generation) this.onSubscribed(result, since !== undefined);
      },
      (error: unknown) => {
        if (generation === this.generation) this.onSubscribeError(toError(error));
      },
    );
  }

  private onSubscribed(result: SubscribeResult, wasRecovering: boolean): void {
    const generation = this.generation;
    this.retryBackoff.reset();
    const recovered = Array.isArray(result.publications) ? result.publications : [];
    const epoch = result.position?.epoch ?? this.lastPosition?.epoch;
    for (const publication of recovered) {
      this.advance(publication.offset, epoch);
      this.emit("publication", { ...publication, channel: this.channel });
      if (generation !== this.generation) return; // a listener unsubscribed or the link dropped
    }
    if (!result.recoverable) this.lastPosition = undefined;
    else if (result.position !== undefined) this.lastPosition = { ...result.position };
    this.currentState = "subscribed";
    const event: SubscribedEvent = { recoverable: result.recoverable, wasRecovering };
    if (result.recovered !== undefined) event.recovered = result.recovered;
    if (result.delta !== undefined) event.delta = result.delta;
    if (this.lastPosition !== undefined) event.position = { ...this.lastPosition };
    this.emit("subscribed", event);
    this.replayEarly(generation);
  }

  /** Delivers pushes that arrived between the subscribe reply and its handling, in order. */
  private replayEarly(generation: number): void {
    const early = this.early;
    this.early = [];
    for (const push of early) {
      if (generation !== this.generation || this.currentState !== "subscribed") return;
      const offset = push.type === "publication" ? push.body.offset : undefined;
      if (offset !== undefined && this.lastPosition !== undefined && offset <= this.lastPosition.offset) continue;
      this._onPush(push);
    }
  }

  private onSubscribeError(error: Error): void {
    // The next connect resubscribes; nothing to do on this one.
    if (error instanceof ConnectionClosedError || error instanceof ClientClosedError) return;
    if (error instanceof TimeoutError) {
      // The server may have subscribed after all; only a fresh connection is certain to agree.
      this.host.reconnect({ code: LocalCode.subscribeTimeout, reason: `subscribe to "${this.channel}" timed out` });
    } else if (
      error instanceof HubcastError &&
      (error.temporary || (error.code === ErrorCode.tokenExpired && this.getToken !== undefined))
    ) {
      // Temporary, or an expired channel token that getToken can replace on the next try.
      this.maybeOnServer = false;
      this.scheduleRetry();
    } else {
      const code = error instanceof HubcastError ? error.code : ErrorCode.internal;
      this.setUnsubscribed({ code, reason: error.message });
    }
    this.emit("error", { error });
  }

  private scheduleRetry(): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.currentState === "subscribing" && this.host.isConnected()) this.sendSubscribe();
    }, this.retryBackoff.next());
  }

  private sendUnsubscribe(): void {
    void this.host.call("unsubscribe", { channel: this.channel }).catch((thrown: unknown) => {
      const error = toError(thrown);
      if (error instanceof ConnectionClosedError || error instanceof ClientClosedError) return;
      this.emit("error", { error });
      this.host.reconnect({ code: LocalCode.unsubscribeFailed, reason: `unsubscribe from "${this.channel}" failed` });
    });
  }

  // With `tellServer`, sends `unsubscribe` when the server may hold the subscription, before any
  // listener can subscribe again, so the commands reach the server in the right order.
  private setUnsubscribed(close: CloseInfo, options: { tellServer?: boolean } = {}): void {
    const sendUnsubscribe = options.tellServer === true && this.maybeOnServer && this.host.isConnected();
    this.generation += 1;
    this.early = [];
    this.maybeOnServer = false;
    this.clearRetry();
    this.lastPosition = undefined;
    this.retryBackoff.reset();
    this.currentState = "unsubscribed";
    if (sendUnsubscribe) this.sendUnsubscribe();
    this.emit("unsubscribed", close);
  }

  /**
   * A publication push as the app sees it: full data, delta applied. `undefined` when there is
   * nothing to show: a delta left from an earlier subscription on the server, or one that does
   * not apply, after which the subscription resubscribes from its last position.
   */
  private resolve(push: PublicationPush): PublicationPush | undefined {
    if (this.deltaBase === undefined) return appPublication(push);
    const last = this.lastPosition?.offset;
    // A delta applies to the previous publication; two edits far apart may apply cleanly to an
    // older one, so with offsets a skipped one is caught here, not left to the checksum.
    const skipped = push.delta === true && push.offset !== undefined && last !== undefined && push.offset !== last + 1;
    const resolved = skipped ? ({ kind: "skipped" } as const) : this.deltaBase.resolve(push);
    if (resolved.kind === "publication") return resolved.publication;
    // Without history, a delta before any full publication can only be left from the server's
    // previous subscription (each starts in full); with history, replays already skip those.
    if (resolved.kind === "no-base" && this.lastPosition === undefined) return undefined;
    const why =
      resolved.kind === "failed"
        ? resolved.error.message
        : resolved.kind === "skipped"
          ? `offset ${push.offset} does not follow ${last}`
          : "no publication to apply it to";
    if (this.host.isConnected()) this.sendUnsubscribe();
    this.resubscribe({
      code: LocalCode.deltaFailed,
      reason: `a delta publication in "${this.channel}" did not apply (${why}); resubscribing from the last position`,
    });
    return undefined;
  }

  private advance(offset: number | undefined, epoch: string | undefined): void {
    if (offset !== undefined && epoch !== undefined) this.lastPosition = { offset, epoch };
  }

  private clearRetry(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}
