import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { KV } from "@nats-io/kv";
import { connect, millis, nanos } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { resolveLiveness } from "../broker/link-liveness.js";
import { NatsBroker } from "../broker/nats.js";
import { NatsHistory } from "../history/nats.js";
import { NatsChannelLog } from "../history/nats-log.js";
import { NatsPresence } from "../presence/nats.js";
import { NatsRegistry } from "../registry/nats.js";
import type { NodeInfo } from "../registry/registry.js";
import type { Engine, EngineObserver } from "./engine.js";
import { NatsNames } from "./nats-names.js";

/** NATS could not be reached (or has no JetStream) when the engine started. */
export class NatsUnavailableError extends Error {
  override readonly name = "NatsUnavailableError";
}

export interface NatsEngineOptions {
  /** Seed URLs of the NATS servers (any one will do; the client learns the rest). */
  servers: string[];
  /** Prefix of every stream, bucket and subject name, so deployments can share NATS. @default "hubcast" */
  prefix?: string;
  /** Copies of the stream and buckets: 1, or 3 on a cluster of three or more. @default 1 */
  replicas?: number;
  /** Presence entries of a node that stopped refreshing them disappear after this many ms. @default 30_000 */
  presenceTtlMs?: number;
  /** A node that stopped announcing itself leaves the cluster view after this many ms. @default 15_000 */
  nodeTtlMs?: number;
  /** Most messages kept per channel subject: the largest `historySize` any channel uses. @default 1_000 */
  maxHistorySize?: number;
  /** Age after which stored messages go: the longest `historyMetaTtlMs` any channel uses. @default 86_400_000 */
  maxHistoryAgeMs?: number;
  /** How long an idempotency key is remembered, in ms. @default 120_000 */
  idempotencyWindowMs?: number;
  /** How long a publish waits for the stream's acknowledgement without a deadline, in ms. @default 5_000 */
  publishTimeoutMs?: number;
  /** How often the connection is pinged, in ms. @default 1_000 */
  linkPingIntervalMs?: number;
  /** Pings unanswered for about this long (whole ping intervals) declare the link dead, in ms. @default 2_000 */
  linkPongTimeoutMs?: number;
  logger: Logger;
}

/**
 * The client's ping settings for a link declared dead within one interval plus the pong
 * timeout: it pings every interval and gives up on the connection at the tick that finds
 * `maxPingOut` pings unanswered.
 */
export function natsPingOptions(options: Pick<NatsEngineOptions, "linkPingIntervalMs" | "linkPongTimeoutMs">): {
  pingInterval: number;
  maxPingOut: number;
} {
  const { pingIntervalMs, pongTimeoutMs } = resolveLiveness({
    pingIntervalMs: options.linkPingIntervalMs,
    pongTimeoutMs: options.linkPongTimeoutMs,
  });
  return { pingInterval: pingIntervalMs, maxPingOut: Math.max(1, Math.ceil(pongTimeoutMs / pingIntervalMs)) };
}

/**
 * Many nodes as one on NATS JetStream: history in one stream (a subject per channel) that
 * republishes what it stored to per-channel live subjects, presence, the node registry and
 * idempotency keys of history-less publications in KV buckets with TTLs. One connection.
 */
export class NatsEngine implements Engine {
  readonly name = "nats";
  private observer: EngineObserver | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    /** Shared with the broker, which fails fast while the connection is down. */
    private readonly link: { connected: boolean },
    readonly broker: NatsBroker,
    readonly history: NatsHistory,
    readonly presence: NatsPresence,
    readonly registry: NatsRegistry,
    readonly presenceTtlMs: number,
    private readonly logger: Logger,
  ) {
    void this.watchStatus();
  }

  /** Connects and makes sure the stream and buckets exist; rejects with NatsUnavailableError if NATS cannot be reached. */
  static async connect(options: NatsEngineOptions): Promise<NatsEngine> {
    let nc: NatsConnection;
    try {
      // The client's own pings are the link's liveness check: without them a connection whose
      // packets are dropped without a reset looks connected for as long as TCP retransmits.
      nc = await connect({
        servers: options.servers,
        name: "hubcast",
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        timeout: 5_000,
        ...natsPingOptions(options),
      });
    } catch (err) {
      throw new NatsUnavailableError(
        `cannot reach NATS at ${options.servers.join(",")}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    try {
      return await NatsEngine.open(nc, options);
    } catch (err) {
      await nc.close();
      if (err instanceof Error && /jetstream/i.test(err.message))
        throw new NatsUnavailableError(
          `NATS at ${options.servers.join(",")} has no JetStream (start nats-server with -js): ${err.message}`,
        );
      throw err;
    }
  }

  private static async open(nc: NatsConnection, options: NatsEngineOptions): Promise<NatsEngine> {
    const names = new NatsNames(options.prefix ?? "hubcast");
    const replicas = options.replicas ?? 1;
    const presenceTtlMs = options.presenceTtlMs ?? 30_000;
    const nodeTtlMs = options.nodeTtlMs ?? 15_000;
    const jsm = await jetstreamManager(nc);
    const windowMs = options.idempotencyWindowMs ?? 120_000;
    await ensureStream(jsm, historyStream(names, options, windowMs));
    const js = jetstream(nc);
    const kvm = new Kvm(js);
    const [presence, nodes, dedupe] = await Promise.all([
      ensureBucket(kvm, jsm, names.bucket("presence"), presenceTtlMs, replicas),
      ensureBucket(kvm, jsm, names.bucket("nodes"), nodeTtlMs, replicas),
      ensureBucket(kvm, jsm, names.bucket("dedupe"), windowMs, replicas),
    ]);
    const log = new NatsChannelLog(js, jsm, names, options.publishTimeoutMs ?? 5_000);
    const link = { connected: true };
    const broker = new NatsBroker(nc, log, names, dedupe, options.logger, () => link.connected);
    return new NatsEngine(
      nc,
      link,
      broker,
      new NatsHistory(log),
      new NatsPresence(presence, presenceTtlMs),
      new NatsRegistry(nodes, nodeTtlMs),
      presenceTtlMs,
      options.logger,
    );
  }

  observe(observer: EngineObserver): void {
    this.observer = observer;
  }

  /** Presence entries must be refreshed within this, or they expire. */
  get presenceRefreshMs(): number {
    return Math.floor(this.presenceTtlMs / 3);
  }

  isReady(): boolean {
    return this.link.connected && !this.nc.isClosed();
  }

  async close(): Promise<void> {
    await this.broker.close();
    if (!this.nc.isClosed()) await this.nc.close();
  }

  /** Follows the connection: readiness, dead links, reconnect counts and a resync after every reconnect. */
  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === "staleConnection") {
        // The client drops the connection next (a "disconnect" follows) and reconnects.
        this.link.connected = false;
        this.logger.error("nats link silent: pings unanswered within the pong timeout; not ready, reconnecting");
        this.observer?.linkDead?.("pubsub");
      } else if (status.type === "disconnect") {
        this.link.connected = false;
        this.logger.warn({ server: status.server }, "nats connection lost");
      } else if (status.type === "reconnect") {
        this.link.connected = true;
        this.logger.warn({ server: status.server }, "nats connection re-established");
        this.observer?.reconnected();
        this.broker.reconnected();
      } else if (status.type === "error") {
        this.logger.warn({ err: status.error.message }, "nats connection error");
        this.observer?.error();
      }
    }
  }
}

/**
 * The cluster view as the nodes on NATS keep it, read once over a connection of its own
 * (for `hubcast nodes`). Rejects with NatsUnavailableError when NATS cannot be reached; an
 * absent bucket means no node ever ran there: no nodes.
 */
export async function readNatsRegistry(servers: string[], prefix: string): Promise<NodeInfo[]> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers, name: "hubcast nodes", maxReconnectAttempts: 0, timeout: 5_000 });
  } catch (err) {
    throw new NatsUnavailableError(
      `cannot reach NATS at ${servers.join(",")}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  try {
    const jsm = await jetstreamManager(nc);
    const bucket = new NatsNames(prefix).bucket("nodes");
    let maxAgeNs: number;
    try {
      maxAgeNs = (await jsm.streams.info(`KV_${bucket}`)).config.max_age;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return [];
      throw err;
    }
    return await new NatsRegistry(
      await new Kvm(jetstream(nc)).open(bucket),
      maxAgeNs > 0 ? millis(maxAgeNs) : undefined,
    ).list();
  } finally {
    await nc.close();
  }
}

/** The history stream: a subject per channel, republished to live subjects once stored. */
function historyStream(
  names: NatsNames,
  options: NatsEngineOptions,
  windowMs: number,
): Partial<StreamConfig> & { name: string } {
  const maxAgeMs = options.maxHistoryAgeMs ?? 86_400_000;
  return {
    name: names.stream,
    subjects: [names.historySubjects],
    republish: { src: names.historySubjects, dest: names.liveSubjects },
    // One more than the largest history: a position marker may sit on top of a new epoch.
    max_msgs_per_subject: (options.maxHistorySize ?? 1_000) + 1,
    max_age: nanos(maxAgeMs),
    duplicate_window: nanos(Math.min(windowMs, maxAgeMs)),
    num_replicas: options.replicas ?? 1,
  };
}

/**
 * Opens a KV bucket with this TTL, creating it if needed. A bucket made earlier with another
 * TTL (the deployment changed `presenceTtlMs`) is opened as it is, so its TTL is set here.
 */
async function ensureBucket(
  kvm: Kvm,
  jsm: JetStreamManager,
  name: string,
  ttlMs: number,
  replicas: number,
): Promise<KV> {
  const kv = await kvm.create(name, { ttl: ttlMs, replicas, history: 1 });
  const { config } = await jsm.streams.info(`KV_${name}`);
  if (config.max_age !== nanos(ttlMs)) {
    await jsm.streams.update(config.name, {
      ...config,
      max_age: nanos(ttlMs),
      duplicate_window: Math.min(config.duplicate_window, nanos(ttlMs)),
    });
  }
  return kv;
}

/**
 * Creates the stream, or widens an existing one to keep what this node needs. Nodes of one
 * deployment may start with other limits (a rolling change of `historySize`); the stream keeps
 * the widest any of them asked for, so no node's channels lose history to another's smaller
 * limits, whatever order they start in. Narrowing the limits is an operator's change on NATS.
 */
async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.add(config);
    return;
  } catch (err) {
    if (!(err instanceof Error) || !/already in use/i.test(err.message)) throw err;
  }
  const { config: existing } = await jsm.streams.info(config.name);
  const wider = widerStreamLimits(existing, config);
  const keys = Object.keys(wider) as (keyof typeof wider)[];
  if (keys.every((key) => wider[key] === existing[key])) return;
  await jsm.streams.update(config.name, { ...config, ...wider });
}

type StreamLimits = Pick<StreamConfig, "max_msgs_per_subject" | "max_age" | "duplicate_window" | "num_replicas">;

/** The wider of two streams' limits, each one: the larger count, the longer age (0: no limit), the more replicas. */
export function widerStreamLimits(existing: Partial<StreamLimits>, wanted: Partial<StreamLimits>): StreamLimits {
  const most = (a = 0, b = 0): number => Math.max(a, b);
  // A limit of 0 (or -1 for counts) means none, which is wider than any.
  const unlimitedOr = (a: number | undefined, b: number | undefined, none: number): number =>
    a === none || b === none ? none : most(a, b);
  const maxAge = unlimitedOr(existing.max_age, wanted.max_age, 0);
  const window = most(existing.duplicate_window, wanted.duplicate_window);
  return {
    max_msgs_per_subject: unlimitedOr(existing.max_msgs_per_subject, wanted.max_msgs_per_subject, -1),
    max_age: maxAge,
    // JetStream refuses a duplicate window longer than the stream's age limit.
    duplicate_window: maxAge === 0 ? window : Math.min(window, maxAge),
    num_replicas: Math.max(1, most(existing.num_replicas, wanted.num_replicas)),
  };
}
