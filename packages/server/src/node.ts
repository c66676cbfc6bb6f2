import type { Socket } from "node:net";
import { randomUUID } from "node:crypto";
import { CloseCode } from "@hubcast/protocol";
import { pino } from "pino";
import type { Logger } from "pino";
import { createAuthSetup } from "./auth/access.js";
import { ChannelRules, resolveChannelOptions } from "./channels.js";
import type { ChannelOptions } from "./channels.js";
import type { AuthenticateHook, NodeContext } from "./context.js";
import { Publisher } from "./publishing.js";
import type { Engine } from "./engine/engine.js";
import { MemoryEngine, memoryEngineOptions } from "./engine/memory.js";
import { Heartbeat, sweepIntervalFor } from "./heartbeat.js";
import { createRequestHandler } from "./http/routes.js";
import { Hub } from "./hub.js";
import { JoinLeaveBatch } from "./join-leave.js";
import { Metrics } from "./metrics.js";
import type { ScrapeSource } from "./metrics.js";
import { ConnectionCounter } from "./limits.js";
import { WriteBatch } from "./write-batch.js";
import { ControlPlane } from "./control.js";
import { createEngine } from "./engine/factory.js";
import { ApiBackend } from "./http/api-backend.js";
import { PresenceRefresher } from "./presence-refresh.js";
import { drainSessions } from "./drain.js";
import { PeerView, SelfDrain, selfDrainWindowMs } from "./self-drain.js";
import type { NodeOptions, ResolvedNodeOptions } from "./options.js";
import { resolveNodeOptions } from "./options.js";
import type { NodeInfo } from "./registry/registry.js";
import type { Session } from "./session.js";
import { deflateFramerFor } from "./transport/deflate.js";
import { WebSocketTransport } from "./transport/websocket.js";
import { NodeListener } from "./listener.js";
import { Admission } from "./transport/admission.js";
import type { TransportName } from "./transport/transport.js";
import { EmulationEndpoints } from "./transport/emulation.js";
import { StreamEndpoints } from "./transport/streams.js";
import { VERSION } from "./version.js";
import { resolvePusherApps } from "./pusher/apps.js";
import { PusherApps } from "./pusher/endpoint.js";
import { PusherService } from "./pusher/service.js";
import { AdminService } from "./admin/service.js";
import { failRequest } from "./http/fault.js";

/** What a node runs on besides its options: code, not configuration. */
export interface NodeServices {
  /** Backends. @default a new MemoryEngine */
  engine?: Engine;
  /** Decides who connects; when given, `connect` tokens go to it instead of the token keys. @default token keys, else anonymous */
  authenticate?: AuthenticateHook;
  /** @default pino at `options.logLevel` */
  logger?: Logger;
}

/** How {@link HubcastNode.start} takes connections; the defaults suit a standalone node. */
export interface StartOptions {
  /**
   * Bind `options.port` (true), or bind nothing and serve the sockets handed to
   * {@link HubcastNode.acceptConnection} (false; needs `advertiseUrl`, the address they are
   * accepted at: a cluster worker behind a primary that balances by least connections).
   * @default true
   */
  listen?: boolean;
  /** The message of the log line that says the node is up (a cluster worker leaves "hubcast listening" to its primary). @default "hubcast listening" */
  listeningMessage?: string;
  /** What /metrics serves when the `metrics` option is on (a cluster worker: the whole cluster's). @default this node's own {@link HubcastNode.metrics} */
  metrics?: ScrapeSource;
}

/** The namespace the demo page uses, unless the configuration defines its own `demo`. */
export const DEMO_NAMESPACE: ChannelOptions = Object.freeze({
  historySize: 100,
  historyTtlMs: 3_600_000,
  presence: true,
  joinLeave: true,
  allowPublish: true,
  subscribe: "anyone",
});

function withDemoNamespace(options: ResolvedNodeOptions): Record<string, ChannelOptions> {
  if (!options.demo || "demo" in options.namespaces) return options.namespaces;
  return { ...options.namespaces, demo: DEMO_NAMESPACE };
}

/** The address parts of a URL, for a node that does not listen itself. */
function addressOf(url: string): { host: string; port: number; url: string } {
  const parsed = new URL(url);
  const port = parsed.port === "" ? (parsed.protocol === "https:" ? 443 : 80) : Number(parsed.port);
  return { host: parsed.hostname, port, url };
}

/** How long clients get to answer the close frame at shutdown before their sockets are dropped. */
const CLOSE_HANDSHAKE_MS = 2_000;

/** When a node reads the cluster view a second time after starting, in ms. */
const STARTUP_VIEW_READ_MS = 1_000;
/** How often the node announces itself: often enough that two misses still leave it in the view. */
const announceIntervalFor = (nodeTtlMs: number): number => Math.max(50, Math.min(5_000, Math.floor(nodeTtlMs / 3)));

/**
 * Creates a node, connecting the engine its options name first (the redis engine connects
 * asynchronously). Rejects with RedisUnavailableError when Redis cannot be reached.
 */
export async function createNode(options: NodeOptions = {}, services: NodeServices = {}): Promise<HubcastNode> {
  const resolved = resolveNodeOptions(options);
  const logger = services.logger ?? pino({ level: resolved.logLevel });
  const engine = services.engine ?? (await createEngine(resolved, logger));
  return new HubcastNode(options, { ...services, engine, logger });
}

/**
 * A Hubcast gateway node: an HTTP server with a WebSocket endpoint and one-way streams (SSE,
 * NDJSON), the Hub, and an engine.
 * `start()` listens; `close()` disconnects every client (asking them to reconnect elsewhere)
 * and releases everything the node started.
 */
export class HubcastNode {
  readonly id = randomUUID();
  readonly options: ResolvedNodeOptions;
  readonly engine: Engine;
  readonly logger: Logger;
  private readonly ctx: NodeContext;
  private readonly sessions = new Set<Session>();
  private readonly hub: Hub;
  /** Joins and leaves from the broker, on their way to the Hub: batched per channel and period. */
  private readonly joinLeave: JoinLeaveBatch;
  /** Where connections come in: the front door and the HTTP server behind it. */
  private readonly listener: NodeListener;
  private readonly transport: WebSocketTransport;
  private readonly streams: StreamEndpoints;
  private readonly emulation: EmulationEndpoints;
  /** The Pusher protocol and HTTP API, when the node serves Pusher apps. */
  private readonly pusher: PusherService | undefined;
  private readonly control: ControlPlane;
  /** The admin UI, when the node has an `adminPassword`. */
  private readonly admin: AdminService | undefined;
  /** The server API's operations (the HTTP routes call these). */
  readonly api: ApiBackend;
  /** This node's Prometheus metrics (served at /metrics when the `metrics` option is on). */
  readonly metrics: Metrics;
  private presenceRefresher: PresenceRefresher | undefined;
  private heartbeat: Heartbeat | undefined;
  private announceTimer: NodeJS.Timeout | undefined;
  private selfDrain: SelfDrain | undefined;
  private readonly peers = new PeerView();
  private startupViewTimer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  private state: "new" | "running" | "draining" | "closing" | "closed" = "new";

  constructor(options: NodeOptions = {}, services: NodeServices = {}) {
    this.options = resolveNodeOptions(options);
    const namespaces = withDemoNamespace(this.options);
    const pusherAppList = resolvePusherApps(this.options.pusherApps);
    const pusherApps = pusherAppList.length > 0 ? new PusherApps(pusherAppList, namespaces) : undefined;
    const rules = new ChannelRules(
      namespaces,
      resolveChannelOptions(this.options.channel, "channel"),
      this.options.maxChannelLength,
      pusherApps?.channelOptions(),
    );
    const auth = createAuthSetup(this.options, namespaces, services.authenticate);
    this.logger = services.logger ?? pino({ level: this.options.logLevel });
    if (services.engine === undefined && this.options.engine !== "memory") {
      throw new Error(`the ${this.options.engine} engine connects asynchronously: create the node with createNode()`);
    }
    this.engine = services.engine ?? new MemoryEngine(memoryEngineOptions(this.options));
    const engine = this.engine;
    const source = {
      ready: () => this.isReady(),
      connections: () => this.sessions.size,
      connectionsByTransport: () => {
        const counts = new Map<TransportName, number>();
        for (const session of this.sessions)
          counts.set(session.transportName, (counts.get(session.transportName) ?? 0) + 1);
        return counts;
      },
      subscriptions: () => this.hub.subscriptionCount,
      channels: () => this.hub.channelCount,
      peers: () => this.peers.size,
    };
    this.metrics = new Metrics(source);
    this.engine.observe?.(this.metrics.engineObserver);
    this.hub = new Hub(
      engine.broker,
      {
        policyFor: (channel) => {
          const lookup = rules.lookup(channel);
          return lookup.ok && lookup.options.history.size > 0 ? lookup.options.history : undefined;
        },
        read: (channel, since, policy) => engine.history.read(channel, { since, limit: policy.size }, policy),
      },
      { logger: this.logger, metrics: this.metrics, exclusions: pusherApps?.exclusions() },
    );
    this.joinLeave = this.createJoinLeaveBatch(rules);
    const connections = { perUser: new ConnectionCounter(), perIp: new ConnectionCounter() };
    this.ctx = {
      options: this.options,
      rules,
      engine: this.engine,
      hub: this.hub,
      logger: this.logger,
      authenticate: services.authenticate,
      connections,
      metrics: this.metrics,
      auth,
      writes: new WriteBatch(),
      deflateFramer: deflateFramerFor(this.options),
      publisher: new Publisher(engine, this.metrics, this.options.publishTimeoutMs, this.logger),
    };
    this.control = new ControlPlane(
      this.id,
      engine.broker,
      engine.registry,
      {
        answer: (question, args) =>
          question === "channels"
            ? Object.fromEntries(this.hub.channelStats())
            : (this.admin?.answer(question, args) ?? null),
        disconnectUser: (user, app) =>
          app === undefined ? this.disconnectUser(user) : (this.pusher?.terminate(app, user) ?? 0),
        deliver: (stream, frames) => this.emulation.deliver(stream, frames),
      },
      this.logger,
    );
    this.api = new ApiBackend(this.ctx, this.control);
    this.admin = this.options.adminPassword === "" ? undefined : this.createAdmin();
    const accepting = (): boolean => this.state === "running" && this.selfDrain?.refusing !== true;
    const admission = new Admission(this.ctx);
    this.transport = new WebSocketTransport(this.ctx, this.sessions, accepting, admission);
    this.streams = new StreamEndpoints(this.ctx, this.sessions, accepting, admission);
    this.emulation = new EmulationEndpoints(this.ctx, {
      nodeId: this.id,
      sessions: this.sessions,
      accepting,
      admission,
      forward: (node, stream, frames) => this.control.deliver(node, stream, frames),
    });
    this.pusher =
      pusherApps === undefined
        ? undefined
        : new PusherService(pusherApps, {
            ctx: this.ctx,
            websocket: this.transport,
            sessions: this.sessions,
            admission,
            nodeId: this.id,
            cluster: {
              subscriptions: () => this.clusterSubscriptions(),
              terminate: (app, user) => this.control.disconnectUser(user, app),
            },
          });
    const { headersTimeoutMs, requestTimeoutMs } = this.options;
    this.listener = new NodeListener({
      headersTimeoutMs,
      requestTimeoutMs,
      upgrade: (req, socket, head) => {
        const pusher = this.pusher;
        if (pusher !== undefined && PusherService.isPusherPath(req.url ?? "/")) pusher.handleUpgrade(req, socket, head);
        else this.transport.handleUpgrade(req, socket, head);
      },
      faults: this.metrics,
      logger: this.logger,
    });
  }

  /** Listens and starts delivering; resolves with the bound address (the advertised one when not listening). */
  async start(how: StartOptions = {}): Promise<{ host: string; port: number; url: string }> {
    if (this.state !== "new") throw new Error("HubcastNode.start() may be called once");
    const listen = how.listen ?? true;
    if (!listen && this.options.advertiseUrl === "")
      throw new Error("a node started with listen: false needs advertiseUrl, the URL its connections are accepted at");
    const hub = this.hub;
    await this.engine.broker.start({
      publication: (pub) => hub.deliverPublication(pub),
      join: (channel, info) => {
        this.joinLeave.heard("join", channel, info);
        this.pusher?.observe("join", channel, info);
      },
      leave: (channel, info) => {
        const deliver = (): void => {
          this.joinLeave.heard("leave", channel, info);
          this.pusher?.observe("leave", channel, info);
        };
        if (this.pusher === undefined) deliver();
        else this.pusher.leaveHeard(channel, info, deliver);
      },
      resync: () => hub.resyncAll(),
      control: (message) => this.control.receive(message),
    });
    const handler = await createRequestHandler({
      demo: this.options.demo,
      isReady: () => this.isReady(),
      api: this.api,
      apiKey: this.options.apiKey,
      logger: this.logger,
      faults: this.metrics,
      metrics: this.options.metrics ? (how.metrics ?? this.metrics) : undefined,
      streams: this.streams,
      emulation: this.emulation,
      pusherApi: this.pusher?.apiHandler(this.metrics),
      admin: await this.admin?.handler(),
    });
    this.listener.serve(handler);
    if (listen) await this.listener.listen(this.options.port, this.options.host, this.options.listenBacklog);
    const { pingIntervalMs, pongTimeoutMs, connectTimeoutMs } = this.options;
    const { idleTimeoutMs } = this.options;
    const periods = [pingIntervalMs, pongTimeoutMs, connectTimeoutMs, ...(idleTimeoutMs > 0 ? [idleTimeoutMs] : [])];
    this.heartbeat = new Heartbeat(this.sessions, { sweepIntervalMs: sweepIntervalFor(periods), idleTimeoutMs });
    this.state = "running";
    this.startSelfDrain();
    this.pusher?.start();
    this.admin?.start();
    this.announce();
    const announceMs = announceIntervalFor(this.options.nodeTtlMs);
    this.announceTimer = setInterval(() => this.announce(), announceMs);
    this.announceTimer.unref();
    // The first view misses peers started alongside that had not announced yet; with the
    // default TTL the next read is 5 s away, too long to have no peers to drain to.
    if (announceMs > STARTUP_VIEW_READ_MS) {
      this.startupViewTimer = setTimeout(() => this.announce(), STARTUP_VIEW_READ_MS);
      this.startupViewTimer.unref();
    }
    if (this.engine.presenceRefreshMs !== undefined) {
      const onError = (err: unknown): void => this.logger.warn({ err }, "presence refresh failed");
      this.presenceRefresher = new PresenceRefresher(
        this.sessions,
        this.ctx.rules,
        this.engine.presence,
        this.engine.presenceRefreshMs,
        onError,
      );
    }
    const address = listen ? this.address : addressOf(this.options.advertiseUrl);
    this.logger.info(
      { url: address.url, engine: this.engine.name, node: this.id },
      how.listeningMessage ?? "hubcast listening",
    );
    return address;
  }

  /**
   * Serves a socket accepted elsewhere, as if this node's server had accepted it (a cluster
   * primary balancing by least connections hands its sockets to workers). A node that is not
   * running (or draining) destroys it.
   */
  acceptConnection(socket: Socket): void {
    if (this.state !== "running" && this.state !== "draining") {
      socket.destroy();
      return;
    }
    this.listener.accept(socket);
  }

  /** The bound address (after `start`). */
  get address(): { host: string; port: number; url: string } {
    return this.listener.address;
  }

  /** Listening, engine up, not shutting down. */
  isReady(): boolean {
    return this.state === "running" && this.engine.isReady();
  }

  /** What this node tells the registry about itself. */
  info(): NodeInfo {
    return {
      id: this.id,
      address:
        this.options.advertiseUrl !== "" ? this.options.advertiseUrl : this.state === "running" ? this.address.url : "",
      version: VERSION,
      startedAt: this.startedAt,
      connections: this.sessions.size,
      subscriptions: this.hub.subscriptionCount,
      channels: this.hub.channelCount,
    };
  }

  /**
   * Graceful shutdown: reports not ready, refuses new connections, asks its clients to
   * reconnect elsewhere spread over `drainWindowMs` (with jitter), then closes. Resolves once
   * closed, within the window plus the close handshake.
   */
  async drain(): Promise<void> {
    if (this.state !== "running") return this.close();
    this.state = "draining";
    const count = this.sessions.size;
    this.logger.info(
      { connections: count, windowMs: this.options.drainWindowMs },
      "draining: asking clients to reconnect elsewhere",
    );
    this.selfDrain?.stop();
    await drainSessions(this.sessions, this.options.drainWindowMs);
    await this.close();
  }

  async close(): Promise<void> {
    if (this.state === "closing" || this.state === "closed") return;
    this.state = "closing";
    clearInterval(this.announceTimer);
    clearTimeout(this.startupViewTimer);
    this.selfDrain?.stop();
    this.heartbeat?.stop();
    this.presenceRefresher?.stop();
    this.joinLeave.close();
    this.admin?.close();
    for (const session of this.sessions) session.close(CloseCode.shutdown);
    await this.sessionsEnded(CLOSE_HANDSHAKE_MS);
    for (const session of this.sessions) session.terminate();
    await this.listener.close();
    await this.pusher?.close(); // its webhook decisions read the engine: before it closes
    await this.engine.registry.remove(this.id);
    await this.engine.close();
    this.state = "closed";
  }

  /**
   * Hubcast's own `joinLeave` channels get a period's joins and leaves in one push; others
   * (Pusher's presence channels, whose protocol wants one event per member) one push each.
   */
  private createJoinLeaveBatch(rules: ChannelRules): JoinLeaveBatch {
    const hub = this.hub;
    const limits = { intervalMs: this.options.joinLeaveIntervalMs, maxEntries: this.options.joinLeaveMaxEntries };
    return new JoinLeaveBatch(limits, {
      batched: (channel) => {
        const lookup = rules.lookup(channel);
        return lookup.ok && lookup.options.joinLeave;
      },
      hasSubscribers: (channel) => hub.liveCount(channel) > 0,
      deliverBatch: (push) => hub.deliverMembers(push),
      deliverOne: (type, channel, info) => hub.deliverJoinLeave(type, channel, info),
      logger: this.logger,
    });
  }

  /** Resolves when every socket has closed, or after `timeoutMs`, whichever is first. */
  private async sessionsEnded(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.sessions.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Live subscriptions per channel across the cluster (a survey of every node). */
  private async clusterSubscriptions(): Promise<Map<string, number>> {
    const totals = new Map<string, number>();
    for (const answer of (await this.control.survey("channels")).values()) {
      if (typeof answer !== "object" || answer === null) continue;
      for (const [channel, count] of Object.entries(answer as Record<string, unknown>))
        if (typeof count === "number") totals.set(channel, (totals.get(channel) ?? 0) + count);
    }
    return totals;
  }

  private createAdmin(): AdminService {
    const reporting = { faults: this.metrics, logger: this.logger };
    return new AdminService({
      password: this.options.adminPassword,
      nodeId: this.id,
      api: this.api,
      survey: (question, options) => this.control.survey(question, options),
      registry: () => this.engine.registry.list(),
      info: () => this.info(),
      ready: () => this.isReady(),
      connectedUsers: () => connectedUsers(this.sessions),
      hub: this.hub,
      deliveries: () => this.metrics.publicationsSent,
      logger: this.logger,
      fail: (req, res, err) => failRequest(reporting, req, res, err),
    });
  }

  /** Closes this node's connections of `user` (3501, final); returns how many. */
  private disconnectUser(user: string): number {
    let count = 0;
    for (const session of this.sessions) {
      if (session.state === "connected" && session.user === user) {
        session.close(CloseCode.forceDisconnect, "disconnected by the server");
        count += 1;
      }
    }
    return count;
  }

  private announce(): void {
    this.engine.registry.announce(this.info()).catch((err: unknown) => {
      this.logger.warn({ err }, "node announce failed");
    });
    if (this.selfDrain !== undefined && this.isReady()) {
      this.engine.registry.list().then(
        (nodes) => this.peers.update(nodes.filter((n) => n.id !== this.id && n.address !== "").map((n) => n.address)),
        (err: unknown) => this.logger.warn({ err }, "reading the cluster view failed"),
      );
    }
  }

  /** Moves clients away while the node stays unready (see SelfDrain); off with unreadyDrainGraceMs 0. */
  private startSelfDrain(): void {
    const { unreadyDrainGraceMs, maxConnectionsPerSecond, drainWindowMs } = this.options;
    if (unreadyDrainGraceMs === 0) return;
    this.selfDrain = new SelfDrain({
      graceMs: unreadyDrainGraceMs,
      isReady: () => this.isReady(),
      sessions: this.sessions,
      windowMs: (count) => selfDrainWindowMs(count, maxConnectionsPerSecond, drainWindowMs),
      peerReady: () => this.peers.anyReady(),
      logger: this.logger,
      metrics: this.metrics,
    });
  }
}

/** The user of each connected session (`""`: anonymous), one per connection. */
function* connectedUsers(sessions: Iterable<Session>): IterableIterator<string> {
  for (const session of sessions) if (session.state === "connected") yield session.user;
}
