import { TransportName } from "./transport/transport.js";
import type { ServerResponse } from "node:http";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { ErrorCode, closeCatalogue } from "@hubcast/protocol";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Aggregator } from "prom-client";
import type { EngineLink, EngineObserver } from "./engine/engine.js";
import { ReplyError } from "./errors.js";
import type { SentCounter } from "./fanout.js";
import { PublishFailureKind } from "./publish-failure.js";

/** What a client → server frame turned out to be. */
export const ReceivedType = { command: "command", pong: "pong", invalid: "invalid" } as const;
export type ReceivedType = (typeof ReceivedType)[keyof typeof ReceivedType];

/**
 * What a server → client frame carries: a command's reply, a publication, a `members` push (a
 * period's joins and leaves of a `joinLeave` channel), one join/leave (Pusher's presence
 * channels), or another push (ping, disconnect, unsubscribe).
 */
export const SentType = {
  reply: "reply",
  publication: "publication",
  members: "members",
  join: "join",
  leave: "leave",
  push: "push",
} as const;
export type SentType = (typeof SentType)[keyof typeof SentType];

/** Who published: a client command or the server API. */
export type PublishSource = "client" | "api";

/** Why a connection's credentials were refused. */
export const AuthFailure = { expired: "expired", invalid: "invalid", anonymousRefused: "anonymous_refused" } as const;
export type AuthFailure = (typeof AuthFailure)[keyof typeof AuthFailure];

/** Which limit refused a command or a connection. */
export const LimitName = {
  rate: "rate",
  subscriptions: "subscriptions",
  connectionsPerUser: "connections_per_user",
  connectionsPerIp: "connections_per_ip",
  admission: "admission",
  /** A Pusher app's maxConnections on this node. */
  connectionsPerApp: "connections_per_app",
  /** A Pusher app's maxClientEventsPerSecond for one connection. */
  clientEvents: "client_events",
} as const;
export type LimitName = (typeof LimitName)[keyof typeof LimitName];

/** Where an unexpected error was caught by a fault boundary: it ended one connection, command or API request, or (process) nothing. */
export const FaultSite = { connection: "connection", command: "command", api: "api", process: "process" } as const;
export type FaultSite = (typeof FaultSite)[keyof typeof FaultSite];

/** How a channel repair (history re-read after a gap or a broker reconnect) ended. */
export type RepairResult = "repaired" | "resubscribe";

/** The node's current sizes, read at scrape time so the hot path never updates a gauge. */
export interface MetricsSource {
  /** What /readyz answers: listening, engine up, not draining. */
  ready(): boolean;
  connections(): number;
  /** Open connections by transport; transports without any may be left out. */
  connectionsByTransport(): ReadonlyMap<TransportName, number>;
  subscriptions(): number;
  channels(): number;
  /** Other nodes in the cluster view as this node last read it: the peers a self-drain asks. */
  peers(): number;
}

/** A scrape's answer: the exposition text and the Content-Type to serve it with. */
export interface Scraped {
  contentType: string;
  text: string;
}

/**
 * What `GET /metrics` answers with: a node's own metrics ({@link Metrics}), or in cluster
 * mode the whole cluster's, aggregated by the primary.
 */
export interface ScrapeSource {
  /** Collects the metrics now; rejects when collecting fails (the route answers 500). */
  scrape(): Promise<Scraped>;
}

/** Buckets of `hubcast_publish_duration_seconds`: 0.5 ms to 1 s. */
export const PUBLISH_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/** Resolution of the event loop delay monitor, in ms; it is subtracted from what the monitor reports. */
const LOOP_RESOLUTION_MS = 10;

let processRegistry: Registry | undefined;

/**
 * Process-wide metrics: prom-client's defaults and the event loop lag. Created at the first
 * scrape and shared by every node in the process, since they describe the process and their
 * monitors cannot be stopped (one set per node would pile up in tests that start many).
 * A cluster primary adds its own to the cluster's scrape.
 */
export function processMetrics(): Registry {
  if (processRegistry !== undefined) return processRegistry;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "hubcast_" });
  const delay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  delay.enable();
  new Gauge({
    name: "hubcast_event_loop_lag_seconds",
    help: "99th percentile of the event loop delay since the previous scrape, in seconds (0 when idle).",
    registers: [registry],
    // Across cluster processes the worst one is what matters: one lagging worker is a CPU-bound worker.
    aggregator: "max",
    collect() {
      // The monitor's samples include its own timer period; only the excess is lag.
      const p99Ms = delay.count === 0 ? 0 : delay.percentile(99) / 1e6;
      this.set(Math.max(0, p99Ms - LOOP_RESOLUTION_MS) / 1000);
      delay.reset();
    },
  });
  processRegistry = registry;
  return registry;
}

type Child = { inc(value?: number): void };

/** One pre-labelled child per value, created at 0 so every series is scraped from the start. */
function children<V extends string>(counter: Counter<string>, label: string, values: readonly V[]): Record<V, Child> {
  const out = {} as Record<V, Child>;
  for (const value of values) {
    counter.inc({ [label]: value }, 0);
    out[value] = counter.labels(value);
  }
  return out;
}

/**
 * A node's Prometheus metrics, in a registry of its own (several nodes may share a process).
 * Every name starts with `hubcast_`; docs/operations.md lists them. Counting methods are
 * cheap and never throw; fan-out is counted once per frame with its number of recipients,
 * never per subscriber.
 */
export class Metrics implements ScrapeSource {
  /** This node's own metrics; {@link scrapeRegistry} adds the process-wide ones. */
  readonly registry = new Registry();
  private readonly connectionsTotal: Record<TransportName, Child>;
  private readonly receivedMessages: Record<ReceivedType, Child>;
  private readonly receivedBytes: Record<ReceivedType, Child>;
  private readonly sentMessages: Record<SentType, Child>;
  private readonly sentBytes: Record<SentType, Child>;
  private readonly publishDuration: Histogram<string>;
  private readonly publishFailures: Record<PublishFailureKind, Child>;
  private readonly brokerReconnects: Counter<string>;
  private readonly brokerErrors: Counter<string>;
  private readonly linksDead: Record<EngineLink, Child>;
  private readonly selfDrains: Child;
  private readonly recoveries: Record<"recovered" | "not_recovered", Child>;
  private readonly repairs: Record<RepairResult, Child>;
  private readonly disconnects: Counter<string>;
  private readonly authFailures: Record<AuthFailure, Child>;
  private readonly limitRejections: Record<LimitName, Child>;
  private readonly unexpectedErrors: Record<FaultSite, Child>;
  private readonly skippedPublications: Child;
  private readonly deltaDeliveries: Child;
  private readonly deltaSavedBytes: Child;
  private readonly historyEvictions: Record<"bytes" | "channels", Child>;
  /** Counts the engine's reconnects and connection errors; give it to `engine.observe`. */
  readonly engineObserver: EngineObserver = {
    reconnected: () => this.brokerReconnects.inc(),
    error: () => this.brokerErrors.inc(),
    linkDead: (link) => this.linksDead[link].inc(),
    historyEvicted: (reason) => this.historyEvictions[reason].inc(),
  };
  /** Pre-bound fan-out counters, one per type, for the Hub. */
  readonly fanout: Readonly<Record<"publication" | "members" | "join" | "leave", SentCounter>>;
  /** `messages_sent_total{type="publication"}` as a plain number, for reading it synchronously every second. */
  private publicationFrames = 0;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    const counter = (name: string, help: string, labelNames: string[] = []): Counter<string> =>
      new Counter({ name: `hubcast_${name}`, help, labelNames, registers });
    // `aggregator` says how a cluster primary combines the workers' values; prom-client's default is the sum.
    const gauge = (name: string, help: string, read: () => number, aggregator: Aggregator = "sum"): void => {
      new Gauge({
        name: `hubcast_${name}`,
        help,
        registers,
        aggregator,
        collect() {
          this.set(read());
        },
      });
    };
    // In a cluster, 1 only while every worker is ready: a sum would read 1 with one of two workers down.
    gauge(
      "ready",
      "1 while the node is ready (what /readyz answers 200 for), else 0.",
      () => (source.ready() ? 1 : 0),
      "min",
    );
    gauge("connections", "Client connections open on this node now, every transport.", () => source.connections());
    new Gauge({
      name: "hubcast_transport_connections",
      help: "Client connections open on this node now, by transport: websocket, sse, ndjson (one-way streams), http-stream, sse-post (two-way emulations).",
      labelNames: ["transport"],
      registers,
      aggregator: "sum",
      collect() {
        const counts = source.connectionsByTransport();
        for (const transport of Object.values(TransportName)) this.set({ transport }, counts.get(transport) ?? 0);
      },
    });
    gauge("subscriptions", "Live channel subscriptions on this node now.", () => source.subscriptions());
    gauge("channels", "Channels with at least one subscriber on this node now.", () => source.channels());
    gauge(
      "cluster_peers",
      "Other nodes in the cluster view as this node last read it from the engine (the peers it asks before a self-drain).",
      () => source.peers(),
      "max",
    );
    this.connectionsTotal = children(
      counter(
        "connections_total",
        "Client connections accepted since the node started (a WebSocket upgrade completed, a stream or emulation opened), by transport.",
        ["transport"],
      ),
      "transport",
      Object.values(TransportName),
    );
    const received = (name: string, help: string) =>
      children(counter(name, help, ["type"]), "type", Object.values(ReceivedType));
    this.receivedMessages = received(
      "messages_received_total",
      "Client → server frames, by type: command, pong, invalid (not parseable, or the wrong frame kind).",
    );
    this.receivedBytes = received(
      "bytes_received_total",
      "Payload bytes of client → server frames, by type (command, pong, invalid).",
    );
    const sent = (name: string, help: string) =>
      children(counter(name, help, ["type"]), "type", Object.values(SentType));
    this.sentMessages = sent(
      "messages_sent_total",
      "Server → client frames written, by type: reply, publication, members (a period's joins and leaves of a joinLeave channel), join, leave (one member of a Pusher presence channel), push (ping, disconnect, unsubscribe). A fan-out counts one per recipient.",
    );
    this.sentBytes = sent(
      "bytes_sent_total",
      "Bytes of server → client frames written (WebSocket framing included), by type; a fan-out counts its frame once per recipient.",
    );
    this.publishDuration = new Histogram({
      name: "hubcast_publish_duration_seconds",
      help: "Time from a publish arriving to the engine acknowledging it (history append and broker publish), successful publishes only, by source: client or api.",
      labelNames: ["source"],
      buckets: [...PUBLISH_BUCKETS_SECONDS],
      registers,
    });
    for (const source of ["client", "api"] satisfies PublishSource[]) this.publishDuration.zero({ source });
    const publishFailures = counter(
      "publish_failures_total",
      "Publishes from clients and the server API that failed, by kind: outcome_unknown (no answer by the publish deadline: maybe made, never later), expired (refused by the engine for its deadline), failed (the engine failed; not made). Logged at warn at most once per 10 s.",
      ["kind"],
    );
    this.publishFailures = children(publishFailures, "kind", Object.values(PublishFailureKind));
    this.brokerReconnects = counter(
      "broker_reconnects_total",
      "Reconnects of the engine's connections (Redis pub/sub or command connection) after the first connect.",
    );
    this.brokerErrors = counter(
      "broker_errors_total",
      "Errors reported by the engine's connections (for Redis: connection errors, each also logged at warn).",
    );
    const links = counter(
      "engine_links_dead_total",
      "Engine connections declared dead because their liveness PING went unanswered, by link: pubsub (then replaced by a new connection) or command (the node is not ready until it answers). Each is also logged at error level.",
      ["link"],
    );
    this.linksDead = children(links, "link", ["pubsub", "command"]);
    this.selfDrains = counter(
      "self_drains_total",
      "Times this node, unready for longer than unreadyDrainGraceMs, asked its clients to reconnect to another node.",
    );
    this.selfDrains.inc(0);
    const recoveries = counter(
      "recoveries_total",
      "Subscribes with `since` (resubscribes after a reconnect) to a channel whose history the client may read, by result: recovered (nothing missed) or not_recovered (the client must refetch).",
      ["result"],
    );
    this.recoveries = children(recoveries, "result", ["recovered", "not_recovered"]);
    const repairs = counter(
      "channel_repairs_total",
      "History re-reads that repaired a channel after a gap or a broker reconnect, by result: repaired, or resubscribe (subscribers were asked to resubscribe).",
      ["result"],
    );
    this.repairs = children(repairs, "result", ["repaired", "resubscribe"]);
    this.disconnects = counter(
      "disconnects_total",
      "Connections the server closed, by close code name (slow_consumer, no_pong, rate_limited, …; see docs/protocol.md).",
      ["code"],
    );
    for (const entry of Object.values(closeCatalogue)) this.disconnects.inc({ code: entry.name }, 0);
    const auth = counter(
      "auth_failures_total",
      "Connect attempts refused for their credentials, by reason: expired, invalid, anonymous_refused.",
      ["reason"],
    );
    this.authFailures = children(auth, "reason", Object.values(AuthFailure));
    const limits = counter(
      "limit_rejections_total",
      "Commands or connections refused by a limit, by limit: rate, subscriptions, connections_per_user, connections_per_ip, admission.",
      ["limit"],
    );
    this.limitRejections = children(limits, "limit", Object.values(LimitName));
    const faults = counter(
      "unexpected_errors_total",
      "Unexpected errors caught by a fault boundary, by where: connection (the connection was closed with 3001), command (answered 100 internal), api (answered 500), process (an unhandled rejection, logged; the node carries on). Each is also logged at error level; any non-zero rate is a bug to report.",
      ["where"],
    );
    this.unexpectedErrors = children(faults, "where", Object.values(FaultSite));
    this.skippedPublications = counter(
      "publications_skipped_total",
      "Stored publications left out of a history or recovery reply because they cannot be read or encoded (written by an older version, or straight into the engine); each is also logged at warn.",
    );
    this.skippedPublications.inc(0);
    this.deltaDeliveries = counter(
      "delta_deliveries_total",
      "Publications delivered as a fossil delta instead of in full, one per subscriber (subscribers that asked for deltas and held the channel's previous publication).",
    );
    this.deltaDeliveries.inc(0);
    this.deltaSavedBytes = counter(
      "delta_saved_bytes_total",
      "Publication data bytes deltas spared: for each delivery made as a delta, the full data's length minus the delta's (before encoding and WebSocket framing).",
    );
    this.deltaSavedBytes.inc(0);
    const evictions = counter(
      "history_evictions_total",
      "Retained history the memory engine dropped before its time to stay within its node-wide bounds, by reason: bytes (the oldest publications of the least recently published channels, memoryHistoryMaxBytes) or channels (a whole stream, position included, memoryHistoryMaxChannels).",
      ["reason"],
    );
    this.historyEvictions = children(evictions, "reason", ["bytes", "channels"]);
    this.fanout = Object.freeze({
      publication: (recipients: number, bytes: number) => this.sent(SentType.publication, recipients, bytes),
      members: (recipients: number, bytes: number) => this.sent(SentType.members, recipients, bytes),
      join: (recipients: number, bytes: number) => this.sent(SentType.join, recipients, bytes),
      leave: (recipients: number, bytes: number) => this.sent(SentType.leave, recipients, bytes),
    });
  }

  /** The node drained its clients because it stayed unready past its grace. */
  selfDrained(): void {
    this.selfDrains.inc();
  }

  /** A connection was accepted: a WebSocket upgrade completed, a stream or an emulation opened. */
  accepted(transport: TransportName): void {
    this.connectionsTotal[transport].inc();
  }

  /** A client → server frame of `bytes` payload bytes. */
  received(type: ReceivedType, bytes: number): void {
    this.receivedMessages[type].inc();
    this.receivedBytes[type].inc(bytes);
  }

  /** Frames written to `recipients` connections, `bytes` in all (a frame to one connection: 1, its length). */
  sent(type: SentType, recipients: number, bytes: number): void {
    if (recipients === 0) return;
    if (type === SentType.publication) this.publicationFrames += recipients;
    this.sentMessages[type].inc(recipients);
    this.sentBytes[type].inc(bytes);
  }

  /** Counts `frame` as written to one connection and returns it: `write(metrics.sentFrame("reply", frame))`. */
  sentFrame(type: SentType, frame: Buffer): Buffer {
    if (type === SentType.publication) this.publicationFrames += 1;
    this.sentMessages[type].inc();
    this.sentBytes[type].inc(frame.length);
    return frame;
  }

  /** Publication frames written to clients since the node started (`messages_sent_total{type="publication"}`): deliveries. */
  get publicationsSent(): number {
    return this.publicationFrames;
  }

  /** Returns `publish` unchanged, observing its duration when it resolves. */
  timePublish<T>(source: PublishSource, publish: Promise<T>): Promise<T> {
    const startedAt = performance.now();
    return publish.then((value) => {
      this.publishDuration.observe({ source }, (performance.now() - startedAt) / 1000);
      return value;
    });
  }

  /** A publish from a client or the server API failed (see {@link PublishFailureKind}). */
  publishFailed(kind: PublishFailureKind): void {
    this.publishFailures[kind].inc();
  }

  /** A subscribe with `since` answered `recovered: true` or `false`. */
  recovery(recovered: boolean): void {
    this.recoveries[recovered ? "recovered" : "not_recovered"].inc();
  }

  /** A channel repair finished. */
  channelRepair(result: RepairResult): void {
    this.repairs[result].inc();
  }

  /** The server closed a connection with `code` (a catalogue code; others are counted by number). */
  disconnected(code: number): void {
    this.disconnects.inc({
      code: (closeCatalogue as Record<number, { name: string } | undefined>)[code]?.name ?? String(code),
    });
  }

  /** A connect was refused for its credentials. */
  authFailure(reason: AuthFailure): void {
    this.authFailures[reason].inc();
  }

  /**
   * For `identify(...).catch(...)` in connect: counts a refusal of credentials (113 expired;
   * 101 without a token: anonymous_refused; 101 with one: invalid), then rethrows `err`.
   */
  connectRefused(err: unknown, token: string | undefined): never {
    if (err instanceof ReplyError && err.code === ErrorCode.tokenExpired) this.authFailure(AuthFailure.expired);
    else if (err instanceof ReplyError && err.code === ErrorCode.unauthorized) {
      this.authFailure(token === undefined || token === "" ? AuthFailure.anonymousRefused : AuthFailure.invalid);
    }
    throw err;
  }

  /** A limit refused a command or a connection. */
  limitRejected(limit: LimitName): void {
    this.limitRejections[limit].inc();
  }

  /** A fault boundary caught an unexpected error at `site`. */
  unexpectedError(site: FaultSite): void {
    this.unexpectedErrors[site].inc();
  }

  /** A stored publication was left out of a reply because it cannot be read or encoded. */
  publicationSkipped(): void {
    this.skippedPublications.inc();
  }

  /** A publication went as a delta to `deliveries` subscribers, each `savedBytes` of data fewer than in full. */
  deltaDelivered(deliveries: number, savedBytes: number): void {
    this.deltaDeliveries.inc(deliveries);
    this.deltaSavedBytes.inc(deliveries * savedBytes);
  }

  /** What a scrape shows: this node's metrics and the process-wide ones (default process metrics, event loop lag). */
  scrapeRegistry(): Registry {
    return Registry.merge([this.registry, processMetrics()]);
  }

  /** The scrape of this node alone: {@link scrapeRegistry} in the text format. */
  async scrape(): Promise<Scraped> {
    const registry = this.scrapeRegistry();
    return { contentType: registry.contentType, text: await registry.metrics() };
  }
}

/**
 * Answers `GET /metrics` with what `source` scrapes, in the Prometheus text format. No
 * authentication: keep the path off the public internet (scrape the node directly, not
 * through the public load balancer).
 */
export function serveMetrics(res: ServerResponse, source: ScrapeSource, logger: Logger): void {
  source.scrape().then(
    ({ contentType, text }) => {
      res.writeHead(200, { "Content-Type": contentType, "Cache-Control": "no-store" });
      res.end(text);
    },
    (err: unknown) => {
      logger.error({ err }, "collecting metrics failed");
      res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("collecting metrics failed; see the node's log\n");
    },
  );
}
