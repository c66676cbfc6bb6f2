import { COMMAND_TIMEOUT_MS } from "@hubcast/emitter";
import { DEFAULT_MAX_DATA_DEPTH, MAX_DATA_DEPTH } from "@hubcast/protocol";
import { resolveChannelOptions } from "./channels.js";
import type { PusherAppOptions } from "./pusher/apps.js";
import { resolvePusherApps } from "./pusher/apps.js";
import type { ChannelOptions } from "./channels.js";
import { checkBoolean, checkInteger, checkKnownKeys, checkSecret, checkString, OptionError } from "./validation.js";

/** Everything that configures a node and can be written in a config file. */
export interface NodeOptions {
  /** TCP port; 0 picks a free one. @default 8080 */
  port?: number;
  /** Interface to listen on; use `0.0.0.0` to accept remote connections. @default "127.0.0.1" */
  host?: string;
  /**
   * Connections the kernel may hold completed but not yet accepted (the listen backlog; Linux
   * caps it at `net.core.somaxconn`). A reconnect storm fills a short queue, and then every new
   * connection, a health probe's too, waits for SYN retransmits (1 s, 3 s, 7 s...). @default 4096
   */
  listenBacklog?: number;
  /** URL path of the WebSocket endpoint. @default "/ws" */
  path?: string;
  /** Server ping period in ms; a client that misses a pong is closed. @default 25_000 */
  pingIntervalMs?: number;
  /** How long a client has to answer a ping, in ms; less than pingIntervalMs. @default 10_000 */
  pongTimeoutMs?: number;
  /** How long a new socket may take to send `connect`, in ms. @default 10_000 */
  connectTimeoutMs?: number;
  /** Largest frame accepted from a client, in bytes; larger ones close the connection with 1009. @default 65_536 */
  maxMessageBytes?: number;
  /**
   * Offer permessage-deflate (RFC 7692) without context takeover: each outgoing message is
   * deflated once, whatever the number of subscribers, and clients may send compressed
   * messages (maxMessageBytes then bounds the inflated size). See docs/compression.md. @default false
   */
  compression?: boolean;
  /** With compression, messages shorter than this many bytes are sent uncompressed. @default 1024 */
  compressionThresholdBytes?: number;
  /** With compression, the zlib level: 1 (fastest) to 9 (smallest). @default 3 */
  compressionLevel?: number;
  /**
   * The memory budget of one connection, in bytes: everything the node holds for it (unsent
   * output: queued replies, pushes and pongs and the socket's send buffer; unfinished input: a
   * partial frame, the fragments of an unfinished message). Past it the connection is closed
   * with 3003 `slow_consumer`. Replaces `maxSendBufferBytes`. @default 4_194_304
   */
  maxConnectionBytes?: number;
  /** Deepest nesting of arrays and objects accepted in publication data from clients (JSON and Protobuf) and the server API, 1 to 512 (the emitter has its own `maxDataDepth`); deeper data is refused with 107 / HTTP 400. @default 64 */
  maxDataDepth?: number;
  /**
   * How long a publish from a client or the server API may take, in ms: its deadline is now
   * plus this, and the engine refuses it after that, so a publish answered with an error is
   * never made later. Below the Redis command timeout (5 s), so a command the node gave up on
   * is refused by Redis. A publish without an answer by then gets 114 `outcome_unknown` / HTTP
   * 503. @default 4_000
   */
  publishTimeoutMs?: number;
  /**
   * How long a publish's idempotency key is remembered per channel, in ms: a retry with the
   * same key within it is not published again. Give the emitter the same value. @default 300_000
   */
  idempotencyWindowMs?: number;
  /** How long an HTTP client may take to send its request headers (upgrades included), in ms; slower ones get 408 and are closed. @default 10_000 */
  headersTimeoutMs?: number;
  /** How long an HTTP client may take to send a whole request (headers and body), in ms. @default 30_000 */
  requestTimeoutMs?: number;
  /** With the memory engine, most bytes of publications retained in history on this node; past it the oldest publications of the least recently published channels are dropped. @default 134_217_728 */
  memoryHistoryMaxBytes?: number;
  /** With the memory engine, most channels holding a history stream (position included) on this node; past it the least recently published channel's stream is dropped. @default 100_000 */
  memoryHistoryMaxChannels?: number;
  /** Longest channel name, in characters. @default 255 */
  maxChannelLength?: number;
  /** Serve the demo chat page at `/`. @default true */
  demo?: boolean;
  /** Options for channels without a namespace (no `:` in the name). @default {} */
  channel?: ChannelOptions;
  /** Namespace name → options, for channels named `namespace:rest`. @default {} */
  namespaces?: Record<string, ChannelOptions>;
  /**
   * Apps served over the Pusher protocol (`/app/{key}`) and the Pusher HTTP API
   * (`/apps/{id}/...`), each with its credentials, limits and webhooks; see docs/pusher.md.
   * @default []
   */
  pusherApps?: PusherAppOptions[];
  /** Log level: fatal, error, warn, info, debug, trace or silent. @default "info" */
  logLevel?: string;
  /** Log lines as `pretty` text (one line per event, for people) or `json` (for machines); `auto` picks pretty on a terminal. @default "auto" */
  logFormat?: string;
  /** Backends: `memory` (one process, no setup), `redis` or `nats` (many nodes as one). @default "memory" */
  engine?: string;
  /** The Redis server for the redis engine. @default "redis://127.0.0.1:6379" */
  redisUrl?: string;
  /** Comma-separated seed URLs of a Redis Cluster; when set, the redis engine uses the cluster (sharded pub/sub). @default "" */
  redisCluster?: string;
  /** Prefix of every Redis key, so deployments can share a Redis. @default "hubcast" */
  redisPrefix?: string;
  /** Comma-separated nats:// URLs of the NATS servers (JetStream enabled) for the nats engine. @default "nats://127.0.0.1:4222" */
  natsUrl?: string;
  /** Copies NATS keeps of the history stream and the KV buckets: 1, or 3 (or 5) on a NATS cluster. @default 1 */
  natsReplicas?: number;
  /** With the redis or nats engine, presence entries of a node that died disappear within this many ms. @default 30_000 */
  presenceTtlMs?: number;
  /**
   * In channels with `joinLeave`, the joins and leaves a node hears during this many ms go to
   * each of its subscribers as one `members` push at the end of the period: one push per
   * subscriber per period however many join. Also the most a change waits. @default 100
   */
  joinLeaveIntervalMs?: number;
  /**
   * Most joins and leaves one `members` push lists; a period with more sends only their counts
   * (`summary`), and clients refetch presence if they need the members. @default 100
   */
  joinLeaveMaxEntries?: number;
  /** A node that stopped announcing itself leaves the cluster view within this many ms. @default 15_000 */
  nodeTtlMs?: number;
  /** The URL other nodes and tools should use for this node; empty means the bound address. @default "" */
  advertiseUrl?: string;
  /** Key for the server API (`Authorization: Bearer <key>`); empty disables the API. @default "" */
  apiKey?: string;
  /** Password of the admin web UI at `/admin` (at least 12 characters); empty turns `/admin` off. Every node of a deployment needs the same one. @default "" */
  adminPassword?: string;
  /** Secret for HS256 connection and channel tokens; empty: HS256 tokens are not accepted. @default "" */
  tokenHmacSecret?: string;
  /** PEM file with the public key for RS256/ES256 tokens. @default "" */
  tokenPublicKeyFile?: string;
  /** JWKS URL serving the keys for RS256/ES256 tokens (cached). @default "" */
  tokenJwksUrl?: string;
  /** When set, tokens must carry this `aud`. @default "" */
  tokenAudience?: string;
  /** When set, tokens must carry this `iss`. @default "" */
  tokenIssuer?: string;
  /** Accept tokens without a Hubcast `typ` header (minted before typed tokens), classified by their claims; false refuses them. @default true */
  tokenAllowUntyped?: boolean;
  /** Connections without a token are accepted as anonymous (user ""); false refuses them (needs a token key; an authenticate hook decides itself). @default true */
  allowAnonymous?: boolean;
  /** Comma-separated browser origins allowed to connect (`https://app.example.com`, `https://*.example.com`); empty allows any. @default "" */
  allowedOrigins?: string;
  /** Commands a connection may send per second, on average (token bucket); 0 disables the limit. @default 100 */
  commandRatePerSecond?: number;
  /** Commands a connection may send at once above the rate. @default 200 */
  commandBurst?: number;
  /** Refused commands within 10 s after which the connection is closed (3006). @default 100 */
  maxRateLimitedCommands?: number;
  /** Subscriptions one connection may hold. @default 256 */
  maxSubscriptionsPerConnection?: number;
  /** Channels one SSE or NDJSON stream may carry (`GET /sse`, `GET /stream`). @default 16 */
  maxStreamChannels?: number;
  /** Connections one user may hold on this node; 0 means no limit. @default 0 */
  maxConnectionsPerUser?: number;
  /** Connections one IP address may hold on this node; 0 means no limit. @default 0 */
  maxConnectionsPerIp?: number;
  /** A connected client with no subscription for this long is closed (3007); 0 disables. @default 300_000 */
  idleTimeoutMs?: number;
  /** New connections this node admits per second (burst the same); the excess is told to retry later (3008). 0 disables. @default 500 */
  maxConnectionsPerSecond?: number;
  /** On SIGTERM, clients are asked to reconnect elsewhere spread over this window, in ms. @default 10_000 */
  drainWindowMs?: number;
  /**
   * A node unready for longer than this (its engine link is down or silent) asks its clients to
   * reconnect to another node (close 3000, spread by admission rate) and refuses new ones until
   * it is ready again; it keeps running. 0 disables. See docs/operations.md. @default 2_000
   */
  unreadyDrainGraceMs?: number;
  /** Serve Prometheus metrics at /metrics. @default true */
  metrics?: boolean;
  /**
   * Worker processes sharing the port (cluster mode, see docs/cluster-mode.md): "1" runs no
   * cluster, a number runs that many, "auto" one per core (`os.availableParallelism()`).
   * A number is accepted in a config file too. @default "1"
   */
  workers?: string;
  /** How a cluster's primary spreads connections over its workers: "round-robin" (node:cluster's default) or "least-connections". @default "round-robin" */
  balancing?: string;
  /** How often a cluster's primary logs one stats line per worker, in ms; 0 never. @default 10_000 */
  workerStatsIntervalMs?: number;
}

export type ResolvedNodeOptions = Readonly<Required<NodeOptions>>;

/** Option names in the order `--help` lists them. */
export const NODE_OPTION_KEYS = [
  "port",
  "host",
  "listenBacklog",
  "path",
  "pingIntervalMs",
  "pongTimeoutMs",
  "connectTimeoutMs",
  "maxMessageBytes",
  "compression",
  "compressionThresholdBytes",
  "compressionLevel",
  "maxConnectionBytes",
  "maxDataDepth",
  "publishTimeoutMs",
  "idempotencyWindowMs",
  "headersTimeoutMs",
  "requestTimeoutMs",
  "maxChannelLength",
  "demo",
  "channel",
  "namespaces",
  "pusherApps",
  "logLevel",
  "logFormat",
  "engine",
  "redisUrl",
  "redisCluster",
  "redisPrefix",
  "natsUrl",
  "natsReplicas",
  "memoryHistoryMaxBytes",
  "memoryHistoryMaxChannels",
  "presenceTtlMs",
  "joinLeaveIntervalMs",
  "joinLeaveMaxEntries",
  "nodeTtlMs",
  "advertiseUrl",
  "apiKey",
  "adminPassword",
  "tokenHmacSecret",
  "tokenPublicKeyFile",
  "tokenJwksUrl",
  "tokenAudience",
  "tokenIssuer",
  "tokenAllowUntyped",
  "allowAnonymous",
  "allowedOrigins",
  "commandRatePerSecond",
  "commandBurst",
  "maxRateLimitedCommands",
  "maxSubscriptionsPerConnection",
  "maxStreamChannels",
  "maxConnectionsPerUser",
  "maxConnectionsPerIp",
  "idleTimeoutMs",
  "maxConnectionsPerSecond",
  "drainWindowMs",
  "unreadyDrainGraceMs",
  "metrics",
  "workers",
  "balancing",
  "workerStatsIntervalMs",
] as const satisfies readonly (keyof NodeOptions)[];

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The defaults, exactly as `resolveNodeOptions({})` applies them. */
export const NODE_DEFAULTS: ResolvedNodeOptions = Object.freeze({
  port: 8080,
  host: "127.0.0.1",
  listenBacklog: 4096,
  path: "/ws",
  pingIntervalMs: 25_000,
  pongTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  maxMessageBytes: 65_536,
  compression: false,
  compressionThresholdBytes: 1024,
  compressionLevel: 3,
  maxConnectionBytes: 4_194_304,
  maxDataDepth: DEFAULT_MAX_DATA_DEPTH,
  publishTimeoutMs: 4_000,
  idempotencyWindowMs: 300_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxChannelLength: 255,
  demo: true,
  channel: {},
  namespaces: {},
  pusherApps: [],
  logLevel: "info",
  logFormat: "auto",
  engine: "memory",
  redisUrl: "redis://127.0.0.1:6379",
  redisCluster: "",
  redisPrefix: "hubcast",
  natsUrl: "nats://127.0.0.1:4222",
  natsReplicas: 1,
  memoryHistoryMaxBytes: 134_217_728,
  memoryHistoryMaxChannels: 100_000,
  presenceTtlMs: 30_000,
  joinLeaveIntervalMs: 100,
  joinLeaveMaxEntries: 100,
  nodeTtlMs: 15_000,
  advertiseUrl: "",
  apiKey: "",
  adminPassword: "",
  tokenHmacSecret: "",
  tokenPublicKeyFile: "",
  tokenJwksUrl: "",
  tokenAudience: "",
  tokenIssuer: "",
  tokenAllowUntyped: true,
  allowAnonymous: true,
  allowedOrigins: "",
  commandRatePerSecond: 100,
  commandBurst: 200,
  maxRateLimitedCommands: 100,
  maxSubscriptionsPerConnection: 256,
  maxStreamChannels: 16,
  maxConnectionsPerUser: 0,
  maxConnectionsPerIp: 0,
  idleTimeoutMs: 300_000,
  maxConnectionsPerSecond: 500,
  drainWindowMs: 10_000,
  unreadyDrainGraceMs: 2_000,
  metrics: true,
  workers: "1",
  balancing: "round-robin",
  workerStatsIntervalMs: 10_000,
});

export const ENGINES = ["memory", "redis", "nats"] as const;
/** The values of the `balancing` option. */
export const BALANCING = ["round-robin", "least-connections"] as const;
/** Most workers one primary runs. */
export const MAX_WORKERS = 1_024;
const REDIS_URL = /^rediss?:\/\/\S+$/;

/** Options renamed since an earlier release: naming one says what to write instead. */
const RENAMED_OPTIONS: Readonly<Record<string, string>> = {
  maxSendBufferBytes: "maxConnectionBytes (it now bounds everything a connection holds, input and output)",
};

/** Applies defaults with `??`, validates every field, freezes. Throws {@link OptionError}. */
export function resolveNodeOptions(opts: NodeOptions = {}): ResolvedNodeOptions {
  for (const [old, now] of Object.entries(RENAMED_OPTIONS)) {
    if (old in opts) throw new OptionError(old, `was renamed: use ${now}`);
  }
  checkKnownKeys("", opts, NODE_OPTION_KEYS);
  const d = NODE_DEFAULTS;
  const o = {
    port: checkInteger("port", opts.port ?? d.port, 0, 65_535),
    host: checkString("host", opts.host ?? d.host, /^\S+$/, "a host name or IP address"),
    listenBacklog: checkInteger("listenBacklog", opts.listenBacklog ?? d.listenBacklog, 1, 1_000_000),
    path: checkString("path", opts.path ?? d.path, /^\/\S*$/, 'a URL path starting with "/"'),
    pingIntervalMs: checkInteger("pingIntervalMs", opts.pingIntervalMs ?? d.pingIntervalMs, 10),
    pongTimeoutMs: checkInteger("pongTimeoutMs", opts.pongTimeoutMs ?? d.pongTimeoutMs, 10),
    connectTimeoutMs: checkInteger("connectTimeoutMs", opts.connectTimeoutMs ?? d.connectTimeoutMs, 10),
    maxMessageBytes: checkInteger("maxMessageBytes", opts.maxMessageBytes ?? d.maxMessageBytes, 256, 64 * 1024 * 1024),
    compression: checkBoolean("compression", opts.compression ?? d.compression),
    compressionThresholdBytes: checkInteger(
      "compressionThresholdBytes",
      opts.compressionThresholdBytes ?? d.compressionThresholdBytes,
      0,
      64 * 1024 * 1024,
    ),
    compressionLevel: checkInteger("compressionLevel", opts.compressionLevel ?? d.compressionLevel, 1, 9),
    maxConnectionBytes: checkInteger("maxConnectionBytes", opts.maxConnectionBytes ?? d.maxConnectionBytes, 1024),
    maxDataDepth: checkInteger("maxDataDepth", opts.maxDataDepth ?? d.maxDataDepth, 1, MAX_DATA_DEPTH),
    // Under the Redis command timeout, so Redis refuses what the node stopped waiting for.
    publishTimeoutMs: checkInteger(
      "publishTimeoutMs",
      opts.publishTimeoutMs ?? d.publishTimeoutMs,
      100,
      COMMAND_TIMEOUT_MS - 500,
    ),
    idempotencyWindowMs: checkInteger(
      "idempotencyWindowMs",
      opts.idempotencyWindowMs ?? d.idempotencyWindowMs,
      1_000,
      86_400_000,
    ),
    headersTimeoutMs: checkInteger("headersTimeoutMs", opts.headersTimeoutMs ?? d.headersTimeoutMs, 100),
    requestTimeoutMs: checkInteger("requestTimeoutMs", opts.requestTimeoutMs ?? d.requestTimeoutMs, 100),
    maxChannelLength: checkInteger("maxChannelLength", opts.maxChannelLength ?? d.maxChannelLength, 1, 1024),
    demo: checkBoolean("demo", opts.demo ?? d.demo),
    channel: opts.channel ?? d.channel,
    namespaces: opts.namespaces ?? d.namespaces,
    pusherApps: opts.pusherApps ?? d.pusherApps,
    logLevel: checkString(
      "logLevel",
      opts.logLevel ?? d.logLevel,
      new RegExp(`^(${LOG_LEVELS.join("|")})$`),
      `one of ${LOG_LEVELS.join(", ")}`,
    ),
    logFormat: checkString("logFormat", opts.logFormat ?? d.logFormat, /^(auto|pretty|json)$/, "auto, pretty or json"),
    engine: checkString(
      "engine",
      opts.engine ?? d.engine,
      new RegExp(`^(${ENGINES.join("|")})$`),
      `one of ${ENGINES.join(", ")}`,
    ),
    redisUrl: checkString("redisUrl", opts.redisUrl ?? d.redisUrl, REDIS_URL, "a redis:// or rediss:// URL"),
    redisCluster: checkString(
      "redisCluster",
      opts.redisCluster ?? d.redisCluster,
      /^(|rediss?:\/\/[^\s,]+(,rediss?:\/\/[^\s,]+)*)$/,
      "comma-separated redis:// URLs of cluster nodes",
    ),
    redisPrefix: checkString(
      "redisPrefix",
      opts.redisPrefix ?? d.redisPrefix,
      /^[A-Za-z0-9_.:-]{1,64}$/,
      "1-64 of A-Z a-z 0-9 _ . : -",
    ),
    natsUrl: checkString(
      "natsUrl",
      opts.natsUrl ?? d.natsUrl,
      /^nats:\/\/[^\s,]+(,nats:\/\/[^\s,]+)*$/,
      "comma-separated nats:// URLs",
    ),
    natsReplicas: checkInteger("natsReplicas", opts.natsReplicas ?? d.natsReplicas, 1, 5),
    memoryHistoryMaxBytes: checkInteger(
      "memoryHistoryMaxBytes",
      opts.memoryHistoryMaxBytes ?? d.memoryHistoryMaxBytes,
      1024,
    ),
    memoryHistoryMaxChannels: checkInteger(
      "memoryHistoryMaxChannels",
      opts.memoryHistoryMaxChannels ?? d.memoryHistoryMaxChannels,
      1,
    ),
    presenceTtlMs: checkInteger("presenceTtlMs", opts.presenceTtlMs ?? d.presenceTtlMs, 100),
    joinLeaveIntervalMs: checkInteger(
      "joinLeaveIntervalMs",
      opts.joinLeaveIntervalMs ?? d.joinLeaveIntervalMs,
      10,
      10_000,
    ),
    joinLeaveMaxEntries: checkInteger(
      "joinLeaveMaxEntries",
      opts.joinLeaveMaxEntries ?? d.joinLeaveMaxEntries,
      1,
      10_000,
    ),
    nodeTtlMs: checkInteger("nodeTtlMs", opts.nodeTtlMs ?? d.nodeTtlMs, 100),
    advertiseUrl: checkString(
      "advertiseUrl",
      opts.advertiseUrl ?? d.advertiseUrl,
      /^(|https?:\/\/\S+)$/,
      "an http:// or https:// URL",
    ),
    apiKey: checkSecret(
      "apiKey",
      opts.apiKey ?? d.apiKey,
      /^(|\S{16,})$/,
      "at least 16 characters without spaces (or empty to disable the API)",
    ),
    adminPassword: checkSecret(
      "adminPassword",
      opts.adminPassword ?? d.adminPassword,
      /^(|.{12,})$/s,
      "at least 12 characters (or empty to turn the admin UI off)",
    ),
    tokenHmacSecret: checkSecret(
      "tokenHmacSecret",
      opts.tokenHmacSecret ?? d.tokenHmacSecret,
      /^(|.{32,})$/s,
      "at least 32 characters (HS256 needs a 256-bit secret), or empty",
    ),
    tokenPublicKeyFile: checkString("tokenPublicKeyFile", opts.tokenPublicKeyFile ?? d.tokenPublicKeyFile),
    tokenJwksUrl: checkString(
      "tokenJwksUrl",
      opts.tokenJwksUrl ?? d.tokenJwksUrl,
      /^(|https?:\/\/\S+)$/,
      "an http:// or https:// URL",
    ),
    tokenAudience: checkString("tokenAudience", opts.tokenAudience ?? d.tokenAudience),
    tokenIssuer: checkString("tokenIssuer", opts.tokenIssuer ?? d.tokenIssuer),
    tokenAllowUntyped: checkBoolean("tokenAllowUntyped", opts.tokenAllowUntyped ?? d.tokenAllowUntyped),
    allowAnonymous: checkBoolean("allowAnonymous", opts.allowAnonymous ?? d.allowAnonymous),
    allowedOrigins: checkString(
      "allowedOrigins",
      opts.allowedOrigins ?? d.allowedOrigins,
      /^(|https?:\/\/[^\s,]+(,\s*https?:\/\/[^\s,]+)*)$/,
      "comma-separated origins like https://app.example.com",
    ),
    commandRatePerSecond: checkInteger("commandRatePerSecond", opts.commandRatePerSecond ?? d.commandRatePerSecond, 0),
    commandBurst: checkInteger("commandBurst", opts.commandBurst ?? d.commandBurst, 1),
    maxRateLimitedCommands: checkInteger(
      "maxRateLimitedCommands",
      opts.maxRateLimitedCommands ?? d.maxRateLimitedCommands,
      1,
    ),
    maxSubscriptionsPerConnection: checkInteger(
      "maxSubscriptionsPerConnection",
      opts.maxSubscriptionsPerConnection ?? d.maxSubscriptionsPerConnection,
      1,
    ),
    maxStreamChannels: checkInteger("maxStreamChannels", opts.maxStreamChannels ?? d.maxStreamChannels, 1),
    maxConnectionsPerUser: checkInteger(
      "maxConnectionsPerUser",
      opts.maxConnectionsPerUser ?? d.maxConnectionsPerUser,
      0,
    ),
    maxConnectionsPerIp: checkInteger("maxConnectionsPerIp", opts.maxConnectionsPerIp ?? d.maxConnectionsPerIp, 0),
    idleTimeoutMs: checkInteger("idleTimeoutMs", opts.idleTimeoutMs ?? d.idleTimeoutMs, 0),
    maxConnectionsPerSecond: checkInteger(
      "maxConnectionsPerSecond",
      opts.maxConnectionsPerSecond ?? d.maxConnectionsPerSecond,
      0,
    ),
    drainWindowMs: checkInteger("drainWindowMs", opts.drainWindowMs ?? d.drainWindowMs, 0, 600_000),
    unreadyDrainGraceMs: checkInteger(
      "unreadyDrainGraceMs",
      opts.unreadyDrainGraceMs ?? d.unreadyDrainGraceMs,
      0,
      3_600_000,
    ),
    metrics: checkBoolean("metrics", opts.metrics ?? d.metrics),
    workers: checkWorkers(opts.workers ?? d.workers),
    balancing: checkString(
      "balancing",
      opts.balancing ?? d.balancing,
      new RegExp(`^(${BALANCING.join("|")})$`),
      `one of ${BALANCING.join(", ")}`,
    ),
    workerStatsIntervalMs: checkInteger(
      "workerStatsIntervalMs",
      opts.workerStatsIntervalMs ?? d.workerStatsIntervalMs,
      0,
    ),
  };
  if (o.requestTimeoutMs < o.headersTimeoutMs) {
    throw new OptionError(
      "requestTimeoutMs",
      `must be at least headersTimeoutMs (${o.headersTimeoutMs}), got ${o.requestTimeoutMs}`,
    );
  }
  if (o.maxConnectionBytes < o.maxMessageBytes) {
    throw new OptionError(
      "maxConnectionBytes",
      `must be at least maxMessageBytes (${o.maxMessageBytes}), so one whole message fits the budget, got ${o.maxConnectionBytes}`,
    );
  }
  if (o.pongTimeoutMs >= o.pingIntervalMs) {
    throw new OptionError(
      "pongTimeoutMs",
      `must be less than pingIntervalMs (${o.pingIntervalMs}), got ${o.pongTimeoutMs}`,
    );
  }
  if (typeof o.channel !== "object" || o.channel === null || Array.isArray(o.channel)) {
    throw new OptionError("channel", "must be an object of channel options");
  }
  if (typeof o.namespaces !== "object" || o.namespaces === null || Array.isArray(o.namespaces)) {
    throw new OptionError("namespaces", 'must be an object: { "chat": { "historySize": 100 } }');
  }
  // Checked here, so a bad namespace stops the start with its name rather than a crash later.
  resolveChannelOptions(o.channel, "channel");
  for (const [name, ns] of Object.entries(o.namespaces)) resolveChannelOptions(ns, `namespaces.${name}`);
  resolvePusherApps(o.pusherApps);
  return Object.freeze(o);
}

/** `workers` as a string: "auto" or a whole number from 1 to MAX_WORKERS (a config file may give the number itself). */
function checkWorkers(value: unknown): string {
  const text = typeof value === "number" ? String(value) : value;
  if (typeof text === "string" && (text === "auto" || (/^[1-9][0-9]*$/.test(text) && Number(text) <= MAX_WORKERS)))
    return text;
  throw new OptionError(
    "workers",
    `must be "auto" or a whole number from 1 to ${MAX_WORKERS}, got ${JSON.stringify(value)}`,
  );
}
