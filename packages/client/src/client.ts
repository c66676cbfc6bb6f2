import { ErrorCode, JsonCodec, shouldReconnect } from "@hubcast/protocol";
import type {
  Codec,
  Command,
  ConnectRequest,
  ConnectResult,
  HistoryResult,
  JsonValue,
  Method,
  Methods,
  PresenceResult,
  PresenceStatsResult,
  PublishResult,
} from "@hubcast/protocol";
import { Backoff } from "./backoff.js";
import type { BackoffOptions } from "./backoff.js";
import { CommandTable } from "./commands.js";
import { Emitter, toError } from "./emitter.js";
import { ClientClosedError, ConnectionClosedError, HubcastError, TimeoutError } from "./errors.js";
import type { CloseInfo } from "./errors.js";
import { Link } from "./link.js";
import { webSocketCarrier } from "./websocket-carrier.js";
import type { CarrierFactory } from "./carrier.js";
import { httpStreamCarrier, sseCarrier } from "./http-carriers.js";
import { emulationUrls, transportsAvailable } from "./transports.js";
import type { EmulationUrls, TransportName } from "./transports.js";
import { TransportRotation } from "./transport-rotation.js";
import { probeWebSocket } from "./websocket-probe.js";
import type { AppPush, LinkHandlers } from "./link.js";
import { LocalCode } from "./local-code.js";
import { resolveClientOptions } from "./options.js";
import { newIdempotencyKey, publishWithResends } from "./publish.js";
import type { PublishOptions } from "./publish.js";
import { TokenRefresher } from "./refresh.js";
import type { ClientOptions, ResolvedClientOptions } from "./options.js";
import { Subscription } from "./subscription.js";
import type { HistoryOptions, SubscriptionHost, SubscriptionOptions } from "./subscription.js";
import { waitUntil } from "./wait.js";
import { wireCodec } from "./wire-codecs.js";
import type { WireCodecs } from "./wire-codecs.js";
import type { ClientEvents, ClientState, StateEvent, TransportEvent } from "./client-events.js";

type Timer = ReturnType<typeof setTimeout>;

/**
 * When the first WebSocket probe follows a fallback connection. A fallback often follows an
 * outage rather than a network that refuses WebSockets (a restarting node refuses every
 * transport, and the attempt that finds it back may be on any of them), so the first check
 * comes soon; later ones every `websocketRetryMs`.
 */
const FIRST_WEBSOCKET_PROBE_MS = 5_000;

/** How a connection ends. */
interface Drop extends CloseInfo {
  reconnect: boolean;
  /** Emitted as an "error" event; when final, also rejects waiting commands. */
  error?: Error;
  /** Rejects waiting commands when final, instead of `error`. */
  finalError?: Error;
  /** The server asked to wait at least this long before reconnecting (it is shedding load). */
  retryAfterMs?: number;
  /** Reconnect at once, without a backoff (leaving a fallback for a WebSocket that opens). */
  immediate?: boolean;
}

/**
 * A Hubcast connection that stays up: it reconnects with jittered exponential backoff while
 * close codes allow ({@link shouldReconnect}), resubscribes with recovery, and answers pings.
 * When WebSockets fail, it falls back to HTTP-streaming or SSE (see {@link ClientOptions.transports}).
 * Every command settles exactly once within `timeoutMs`: with its result, a
 * {@link HubcastError} from the server, a {@link TimeoutError}, a {@link ConnectionClosedError}
 * or a {@link ClientClosedError}. Commands called while not connected wait for the connection.
 * Events: {@link ClientEvents}.
 *
 * @example
 * ```ts
 * const client = new Client("wss://hubcast.example.com/ws", { getToken: fetchToken });
 * client.on("state", ({ from, to }) => console.log(`${from} → ${to}`));
 * client.connect();
 * await client.ready();
 * ```
 */
export class Client extends Emitter<ClientEvents> {
  /**
   * The wire encodings this class speaks: JSON only, so that Protobuf stays out of bundles
   * that do not use it. The `Client` of `@hubcast/client/protobuf` is a subclass that adds
   * Protobuf. Codecs hold no per-connection state: one of each serves every connection.
   */
  protected static readonly codecs: WireCodecs = { json: new JsonCodec() };
  /** The server's WebSocket URL. */
  readonly url: string;
  private readonly options: ResolvedClientOptions;
  private readonly codec: Codec;
  // The HTTP transports speak JSON whatever `protocol` says.
  private readonly jsonCodec: Codec;
  private readonly carriers: Partial<Record<TransportName, CarrierFactory>>;
  private readonly rotation: TransportRotation;
  private currentTransport: TransportName | undefined;
  private lastTransport: TransportName | undefined;
  private attemptTransport: TransportName | undefined;
  private websocketRetryTimer: Timer | undefined;
  private readonly commands: CommandTable;
  private readonly backoff: Backoff;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly host: SubscriptionHost;
  private currentState: ClientState = "disconnected";
  /** The current connection's id, from its `connect` result. */
  private connectionId: string | undefined;
  private link: Link | undefined;
  // Bumped when an attempt starts or a connection ends; callbacks of older attempts do nothing.
  private attempt = 0;
  private attemptTimer: Timer | undefined;
  private reconnectTimer: Timer | undefined;
  private finalError: Error | undefined;
  // Refreshes the current connection's token before it expires; undefined when it does not expire.
  private refresher: TokenRefresher | undefined;

  /**
   * Throws a TypeError naming the option when `url` or `options` are unusable, and naming the
   * import to use when `protocol` is one this class does not speak. Does not connect.
   * @param url The node's WebSocket endpoint, `ws://` or `wss://`, path included (`/ws` by default).
   * @param options How to connect, authenticate and retry.
   */
  constructor(url: string, options: ClientOptions = {}) {
    super();
    if (typeof url !== "string" || url === "")
      throw new TypeError(`url must be a ws:// or wss:// URL, got ${String(url)}`);
    this.url = url;
    this.options = resolveClientOptions(options);
    this.codec = wireCodec(new.target.codecs, this.options.protocol);
    this.jsonCodec = wireCodec(new.target.codecs, "json");
    this.carriers = this.carrierFactories();
    const usable = this.options.transports.filter((name) => this.carriers[name] !== undefined);
    if (usable.length === 0) {
      throw new TypeError(
        `transports: none of ${JSON.stringify(this.options.transports)} can run here ` +
          '("http-stream" needs fetch with streaming bodies, "sse" a global EventSource)',
      );
    }
    this.rotation = new TransportRotation(usable);
    const backoff: BackoffOptions = {
      minDelayMs: this.options.minReconnectDelayMs,
      maxDelayMs: this.options.maxReconnectDelayMs,
      random: this.options.random,
    };
    this.backoff = new Backoff(backoff);
    this.commands = new CommandTable({
      timeoutMs: this.options.timeoutMs,
      send: (command) => this.sendCommand(command),
    });
    this.host = {
      timeoutMs: this.options.timeoutMs,
      backoff,
      isConnected: () => this.currentState === "connected",
      connectionId: () => (this.currentState === "connected" ? this.connectionId : undefined),
      call: <M extends Method>(method: M, request: Methods[M]["request"]) => this.call(method, request),
      publish: (channel, data, options) => this.publish(channel, data, options),
      reconnect: (close) => {
        if (this.currentState === "connected") this.drop(this.attempt, { ...close, reconnect: true });
      },
    };
  }

  /** The current state; each change is a `"state"` event. */
  get state(): ClientState {
    return this.currentState;
  }

  /**
   * The transport of the current connection (`"websocket"`, `"http-stream"` or `"sse"`), or
   * `undefined` unless connected; a connection on another transport than the last one is a
   * `"transport"` event.
   */
  get transport(): TransportName | undefined {
    return this.currentTransport;
  }

  /** Starts connecting, and keeps reconnecting until `disconnect()` or a final close. Idempotent. */
  connect(): void {
    if (this.currentState !== "disconnected") return;
    const attempt = ++this.attempt;
    this.finalError = undefined;
    this.backoff.reset();
    this.rotation.reset();
    const stateEvent = this.changeState("connecting");
    if (stateEvent !== undefined) this.emit("state", stateEvent);
    if (attempt === this.attempt) this.emit("connecting", { code: LocalCode.connectCalled, reason: "connect called" });
    this.openLink(attempt); // does nothing if a listener called disconnect()
  }

  /**
   * Closes with 1000 and stops reconnecting; waiting commands reject with {@link ClientClosedError}.
   * Subscriptions stay wanted: a later `connect()` resubscribes them. Idempotent.
   */
  disconnect(): void {
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.currentState === "disconnected") return;
    const close = { code: LocalCode.disconnectCalled, reason: "disconnect called" };
    this.drop(this.attempt, { ...close, reconnect: false, finalError: new ClientClosedError() });
  }

  /**
   * Resolves once connected. Rejects when the client stops for good (with the reason: a
   * {@link HubcastError} from `connect`, {@link ClientClosedError}, {@link ConnectionClosedError}),
   * or with a {@link TimeoutError} after `timeoutMs`. Before the first `connect()` it waits for one.
   * @param timeoutMs How long to wait, in ms; the client's `timeoutMs` when omitted.
   */
  ready(timeoutMs: number = this.options.timeoutMs): Promise<void> {
    if (this.currentState === "connected") return Promise.resolve();
    if (this.currentState === "disconnected" && this.finalError !== undefined) return Promise.reject(this.finalError);
    return waitUntil(this, {
      timeoutMs,
      what: "client",
      resolveOn: "connected",
      rejectOn: "disconnected",
      toError: (event) => (event.reconnect ? undefined : (this.finalError ?? new ConnectionClosedError(event))),
    });
  }

  /**
   * A new, unsubscribed subscription; call `subscribe()` on it. Throws if one exists for
   * `channel`, or a TypeError for unusable `options`.
   * @param channel The channel name, `namespace:name` or a bare name for the default namespace.
   * @param options A channel token source, for namespaces that ask for one.
   */
  newSubscription(channel: string, options: SubscriptionOptions = {}): Subscription {
    if (typeof channel !== "string" || channel === "") throw new TypeError("channel must be a non-empty string");
    if (this.subscriptions.has(channel)) {
      throw new Error(`a subscription to "${channel}" exists; use getSubscription() or removeSubscription() first`);
    }
    const subscription = new Subscription(channel, this.host, options);
    this.subscriptions.set(channel, subscription);
    return subscription;
  }

  /** The subscription for `channel`, or `undefined` when there is none. */
  getSubscription(channel: string): Subscription | undefined {
    return this.subscriptions.get(channel);
  }

  /** Unsubscribes `subscription` and forgets it; it can no longer subscribe. No-op for a stranger. */
  removeSubscription(subscription: Subscription): void {
    if (this.subscriptions.get(subscription.channel) !== subscription) return;
    this.subscriptions.delete(subscription.channel);
    subscription._remove();
  }

  /**
   * Publishes `data` to `channel`; resolves when the server accepted it. A publish whose
   * connection closed after sending, or that the server answered 114 `outcome_unknown` or 100
   * `internal`, is sent again with the same idempotency key (up to `publishAttempts` in all),
   * so it is published at most once. The namespace must allow client publishing.
   * @param channel The channel to publish to; no subscription needed.
   * @param data Any JSON value, within the server's size limit.
   * @param options Your own idempotency key, to make your own retries safe too.
   * @returns The publication's position (`offset` and `epoch`) when the channel keeps history.
   */
  publish(channel: string, data: JsonValue, options: PublishOptions = {}): Promise<PublishResult> {
    const request = { channel, data, idempotencyKey: options.idempotencyKey ?? newIdempotencyKey() };
    return publishWithResends(() => this.call("publish", request), this.options.publishAttempts);
  }

  /**
   * A channel's history and current position; rejects with code 108 `not_available` when the
   * namespace keeps no history.
   * @param channel The channel to read.
   * @param options How many publications, from where, in which order.
   */
  history(channel: string, options: HistoryOptions = {}): Promise<HistoryResult> {
    return this.call("history", { ...options, channel });
  }

  /**
   * Who is in a channel, by connection id. Rejects with 108 `not_available` unless the namespace
   * has `presence`, and with 103 `permission_denied` unless this connection is subscribed to it.
   * @param channel The channel to look at.
   */
  presence(channel: string): Promise<PresenceResult> {
    return this.call("presence", { channel });
  }

  /**
   * How many connections and users are in a channel; same rules and errors as {@link Client.presence}.
   * @param channel The channel to look at.
   */
  presenceStats(channel: string): Promise<PresenceStatsResult> {
    return this.call("presence_stats", { channel });
  }

  // Waits for a connection unless the client has stopped for good.
  private call<M extends Method>(method: M, request: Methods[M]["request"]): Promise<Methods[M]["result"]> {
    if (this.currentState === "disconnected" && this.finalError !== undefined) return Promise.reject(this.finalError);
    return this.commands.call(method, request);
  }

  private sendCommand(command: Command): void {
    if (this.link === undefined) throw new Error("no connection");
    this.link.sendCommand(command);
  }

  private openLink(attempt: number): void {
    if (attempt !== this.attempt) return;
    const { timeoutMs, getToken } = this.options;
    this.attemptTimer = setTimeout(() => {
      const reason = `no connect reply within ${timeoutMs}ms`;
      this.drop(attempt, { code: LocalCode.connectTimeout, reason, reconnect: true });
    }, timeoutMs);
    if (getToken === undefined) {
      this.createLink(attempt, this.options.token);
      return;
    }
    void Promise.resolve()
      .then(getToken)
      .then((token: unknown) => {
        if (typeof token !== "string") throw new TypeError(`getToken must resolve to a string, got ${typeof token}`);
        this.createLink(attempt, token);
      })
      .catch((error: unknown) => {
        const reason = "getToken failed";
        this.drop(attempt, { code: LocalCode.transportFailed, reason, reconnect: true, error: toError(error) });
      });
  }

  /**
   * The carrier of each transport this environment can run, called once by the constructor:
   * a WebSocket when there is a WebSocket class, HTTP-streaming with `fetch` and streaming
   * bodies, SSE with a global `EventSource`. The HTTP ones are bound to the emulation URLs.
   */
  protected carrierFactories(): Partial<Record<TransportName, CarrierFactory>> {
    const { websocket, transports } = this.options;
    const available = transportsAvailable(transports, websocket !== undefined);
    let urls: EmulationUrls | undefined;
    // Derived on first use, so that a URL it cannot read fails the attempt, as a bad WebSocket URL does.
    const emulation = (): EmulationUrls => {
      urls ??= emulationUrls(this.url, this.options.emulationUrl, this.options.emulationSendUrl);
      return urls;
    };
    const factories: Partial<Record<TransportName, CarrierFactory>> = {};
    for (const name of available) {
      if (name === "websocket" && websocket !== undefined) factories.websocket = webSocketCarrier(websocket);
      if (name === "http-stream") factories[name] = httpStreamCarrier(emulation);
      if (name === "sse") factories[name] = sseCarrier(emulation);
    }
    return factories;
  }

  private createLink(attempt: number, token: string | undefined): void {
    if (attempt !== this.attempt) return;
    const transport = this.rotation.current;
    this.attemptTransport = transport;
    try {
      this.link = new Link({
        url: this.url,
        carrier: this.carriers[transport] as CarrierFactory,
        codec: transport === "websocket" ? this.codec : this.jsonCodec,
        handlers: this.linkHandlers(attempt, token),
      });
    } catch (error) {
      const reason = `could not create the ${transport} connection`;
      this.drop(attempt, { code: LocalCode.transportFailed, reason, reconnect: false, error: toError(error) });
    }
  }

  private linkHandlers(attempt: number, token: string | undefined): LinkHandlers {
    return {
      onOpen: () => this.sendConnect(attempt, token),
      onReply: (reply) => void this.commands.settle(reply), // false: a late reply after a timeout
      onPush: (push) => this.onPush(attempt, push),
      onClose: (close) => this.drop(attempt, { ...close, reconnect: shouldReconnect(close.code) }),
      onDead: (silentMs) => {
        const reason = `no frame from the server for ${silentMs}ms`;
        this.drop(attempt, { code: LocalCode.noPing, reason, reconnect: true });
      },
      onError: (error) => this.emit("error", { error }),
    };
  }

  private sendConnect(attempt: number, token: string | undefined): void {
    const request: ConnectRequest = {};
    if (token !== undefined) request.token = token;
    if (this.options.name !== undefined) request.name = this.options.name;
    if (this.options.version !== undefined) request.version = this.options.version;
    void this.commands.call("connect", request, { immediate: true }).then(
      (result) => this.onConnected(attempt, result),
      (error: unknown) => this.onConnectFailed(attempt, toError(error)),
    );
  }

  private onConnected(attempt: number, result: ConnectResult): void {
    if (attempt !== this.attempt || this.link === undefined) return;
    this.clearAttemptTimer();
    this.backoff.reset();
    this.link.configure(result);
    this.connectionId = result.client;
    this.startRefresher(result);
    const transport = this.attemptTransport ?? this.rotation.current;
    this.rotation.worked();
    this.currentTransport = transport;
    const from = this.lastTransport;
    const transportEvent: TransportEvent | undefined = from === transport ? undefined : { from, to: transport };
    this.lastTransport = transport;
    this.armWebSocketRetry(attempt, Math.min(FIRST_WEBSOCKET_PROBE_MS, this.options.websocketRetryMs));
    // Internal work first, events last, so listeners see a consistent client.
    const stateEvent = this.changeState("connected");
    this.commands.open();
    for (const subscription of this.subscriptions.values()) subscription._onConnected();
    if (stateEvent !== undefined) this.emit("state", stateEvent);
    if (attempt === this.attempt && transportEvent !== undefined) this.emit("transport", transportEvent);
    if (attempt === this.attempt) this.emit("connected", result);
  }

  private onConnectFailed(attempt: number, error: Error): void {
    // A closed connection already went through drop().
    if (error instanceof ConnectionClosedError || error instanceof ClientClosedError) return;
    if (error instanceof TimeoutError) {
      this.drop(attempt, { code: LocalCode.connectTimeout, reason: error.message, reconnect: true });
      return;
    }
    // An expired token is worth another attempt when getToken can supply a fresh one.
    const retryable =
      error instanceof HubcastError && error.code === ErrorCode.tokenExpired && this.options.getToken !== undefined;
    const final = error instanceof HubcastError && !error.temporary && !retryable;
    const code = error instanceof HubcastError ? error.code : ErrorCode.internal;
    this.drop(attempt, { code, reason: error.message, reconnect: !final, error });
  }

  private onPush(attempt: number, push: AppPush): void {
    if (push.type === "disconnect") {
      // The server's own word on reconnecting beats whatever close code follows.
      const { code, reason, reconnect, retryAfterMs } = push.body;
      this.drop(
        attempt,
        retryAfterMs === undefined ? { code, reason, reconnect } : { code, reason, reconnect, retryAfterMs },
      );
      return;
    }
    this.subscriptions.get(push.body.channel)?._onPush(push);
  }

  /** Ends the current connection or attempt once; then reconnects after a backoff or stops. */
  private drop(attempt: number, drop: Drop): void {
    if (attempt !== this.attempt) return;
    const next = ++this.attempt;
    this.clearAttemptTimer();
    this.refresher?.stop();
    this.refresher = undefined;
    if (this.websocketRetryTimer !== undefined) clearTimeout(this.websocketRetryTimer);
    this.websocketRetryTimer = undefined;
    // A transport that never got a frame from the node failed (a proxy that refuses WebSockets,
    // a stream it buffers, a node that is down); the rotation says what to try next, and when.
    const transportFailed = drop.reconnect && this.link !== undefined && !this.link.heard;
    const nextTransportNow = transportFailed && !this.rotation.failed();
    this.link?.close(drop.reason);
    this.link = undefined;
    this.currentTransport = undefined;
    const close: CloseInfo = { code: drop.code, reason: drop.reason };
    const stateEvent = this.changeState(drop.reconnect ? "connecting" : "disconnected");
    if (drop.reconnect) {
      this.commands.close(new ConnectionClosedError(close));
      this.reconnectTimer = setTimeout(
        () => {
          this.reconnectTimer = undefined;
          if (next === this.attempt) this.openLink(++this.attempt);
        },
        drop.immediate === true || nextTransportNow ? 0 : this.reconnectDelayMs(drop),
      );
    } else {
      this.finalError = drop.finalError ?? drop.error ?? new ConnectionClosedError(close);
      this.commands.failAll(this.finalError);
    }
    // Events last. A listener may call connect() or disconnect(); that call then has the last word.
    const live = (): boolean => next === this.attempt;
    for (const subscription of this.subscriptions.values()) subscription._onConnectionLost(close);
    if (live() && drop.error !== undefined) this.emit("error", { error: drop.error });
    if (live() && stateEvent !== undefined) this.emit("state", stateEvent);
    if (live()) this.emit("disconnected", { ...close, reconnect: drop.reconnect });
    if (live() && drop.reconnect) this.emit("connecting", close);
  }

  /**
   * On a fallback transport with `"websocket"` preferred, checks after `delayMs`, then every
   * `websocketRetryMs`, whether a WebSocket opens; when one does, leaves this connection for
   * one over WebSocket.
   */
  private armWebSocketRetry(attempt: number, delayMs = this.options.websocketRetryMs): void {
    const websocket = this.carriers.websocket;
    if (websocket === undefined || !this.rotation.preferred.includes("websocket")) return;
    this.websocketRetryTimer = setTimeout(() => {
      this.websocketRetryTimer = undefined;
      void probeWebSocket(websocket, this.url, this.codec, this.options.timeoutMs).then((opened) => {
        if (attempt !== this.attempt) return;
        if (!opened) {
          this.armWebSocketRetry(attempt);
          return;
        }
        this.rotation.moveTo("websocket");
        const reason = "a WebSocket opens again; leaving the fallback transport";
        this.drop(attempt, { code: LocalCode.websocketAvailable, reason, reconnect: true, immediate: true });
      });
    }, delayMs);
  }

  /** The backoff delay, or the server's retry-after hint plus up to as much again of jitter. */
  private reconnectDelayMs(drop: Drop): number {
    const backoff = this.backoff.next();
    if (drop.retryAfterMs === undefined) return backoff;
    return Math.max(backoff, drop.retryAfterMs * (1 + this.options.random()));
  }

  /** Sets the state; returns the "state" event to emit once the change is complete. */
  private changeState(to: ClientState): StateEvent | undefined {
    const from = this.currentState;
    this.currentState = to;
    return from === to ? undefined : { from, to };
  }

  /** With `getToken` and a connect result that says when the token expires, keeps it fresh with `refresh`. */
  private startRefresher(result: ConnectResult): void {
    const { getToken } = this.options;
    if (getToken === undefined || result.expiresAt === undefined) return;
    this.refresher = new TokenRefresher(
      {
        getToken,
        refresh: (token) => this.call("refresh", { token }),
        onError: (error) => this.emit("error", { error }),
        backoff: {
          minDelayMs: this.options.minReconnectDelayMs,
          maxDelayMs: this.options.maxReconnectDelayMs,
          random: this.options.random,
        },
      },
      result.expiresAt,
    );
  }

  private clearAttemptTimer(): void {
    if (this.attemptTimer !== undefined) clearTimeout(this.attemptTimer);
    this.attemptTimer = undefined;
  }
}
