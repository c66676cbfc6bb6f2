import { readFileSync } from "node:fs";
import type { NodeOptions } from "../options.js";
import { NODE_DEFAULTS, NODE_OPTION_KEYS } from "../options.js";
import { closest } from "@hubcast/protocol/suggest";
import { parsePusherAppFlag } from "../pusher/apps.js";
import type { PusherAppOptions } from "../pusher/apps.js";
import type { OptionError } from "../validation.js";

/** A command-line or environment value that cannot be used; the message says how to fix it. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The options only a config file can hold (objects and lists); `pusherApps` also takes one app by `--pusher-app`. */
const STRUCTURED_KEYS = ["channel", "namespaces", "pusherApps"] as const;
type ScalarKey = Exclude<(typeof NODE_OPTION_KEYS)[number], (typeof STRUCTURED_KEYS)[number]>;
/** The flag and variable that add one Pusher app (`id:key:secret`) to the config file's. */
const PUSHER_APP_FLAG = "pusher-app";
const PUSHER_APP_ENV = "HUBCAST_PUSHER_APP";

/** What each scalar option means, for `hubcast start --help`. */
const DESCRIPTIONS: Record<ScalarKey, string> = {
  port: "TCP port to listen on (0 picks a free one)",
  host: "interface to listen on; 0.0.0.0 accepts remote connections",
  listenBacklog: "connections the kernel queues before the node accepts them (capped by net.core.somaxconn)",
  path: "URL path of the WebSocket endpoint",
  pingIntervalMs: "server ping period; a client that misses a pong is closed",
  pongTimeoutMs: "time a client has to answer a ping (< ping interval)",
  connectTimeoutMs: "time a new socket has to send `connect`",
  maxMessageBytes: "largest client frame; larger ones close the connection (1009)",
  compression: "offer permessage-deflate, each message deflated once for all",
  compressionThresholdBytes: "with compression, shorter messages go uncompressed",
  compressionLevel: "with compression, zlib level 1 (fastest) to 9 (smallest)",
  maxConnectionBytes: "bytes held for one connection (output and input) before 3003",
  maxDataDepth: "deepest nesting of arrays/objects in publication data (107)",
  publishTimeoutMs: "a publish not made by then is refused, never made later (114)",
  idempotencyWindowMs: "a publish retried with the same key within this is not repeated",
  headersTimeoutMs: "time an HTTP client has to send its request headers",
  requestTimeoutMs: "time an HTTP client has to send a whole request",
  maxChannelLength: "longest channel name",
  demo: "serve the demo chat at / (and the built-in `demo` namespace)",
  logLevel: "fatal, error, warn, info, debug, trace or silent",
  logFormat: "pretty (one line per event, for people), json (for machines), or auto: pretty on a terminal",
  engine: "memory (one process), redis or nats (many nodes as one)",
  redisUrl: "Redis server for --engine redis",
  redisCluster: "comma-separated Redis Cluster seed URLs (uses sharded pub/sub)",
  redisPrefix: "prefix of every Redis key (and of every NATS stream, bucket and subject)",
  natsUrl: "comma-separated nats:// URLs of the NATS servers (JetStream on) for --engine nats",
  natsReplicas: "copies NATS keeps of the history stream and KV buckets (3 on a NATS cluster)",
  memoryHistoryMaxBytes: "memory engine: retained history bytes on this node",
  memoryHistoryMaxChannels: "memory engine: channels holding history on this node",
  presenceTtlMs: "presence of a dead node disappears within this (redis, nats)",
  joinLeaveIntervalMs: "joinLeave channels: joins/leaves of this period go out as one push",
  joinLeaveMaxEntries: "most joins/leaves one push lists; past it only their counts",
  nodeTtlMs: "a dead node leaves the cluster view within this",
  advertiseUrl: "URL others should use for this node (default: bound address)",
  apiKey: "server API key (Authorization: Bearer); empty disables /api",
  adminPassword: "password of the admin web UI at /admin (12+ characters); empty: off",
  tokenHmacSecret: "HS256 secret for connection and channel tokens",
  tokenPublicKeyFile: "PEM public key file for RS256/ES256 tokens",
  tokenJwksUrl: "JWKS URL for RS256/ES256 tokens (cached)",
  tokenAudience: "required token audience (aud), if set",
  tokenIssuer: "required token issuer (iss), if set",
  tokenAllowUntyped: "accept tokens without a typ header, classified by claims",
  allowAnonymous: "accept connections without a token as anonymous",
  allowedOrigins: "comma-separated browser origins allowed (empty: any)",
  commandRatePerSecond: "commands per second per connection (0: no limit)",
  commandBurst: "commands a connection may send at once above the rate",
  maxRateLimitedCommands: "refused commands in 10 s before the connection is closed",
  maxSubscriptionsPerConnection: "subscriptions one connection may hold",
  maxStreamChannels: "channels one SSE or NDJSON stream may carry",
  maxConnectionsPerUser: "connections per user on this node (0: no limit)",
  maxConnectionsPerIp: "connections per IP address on this node (0: no limit)",
  idleTimeoutMs: "close connections without a subscription after this (0: never)",
  maxConnectionsPerSecond: "new connections admitted per second (0: no limit)",
  drainWindowMs: "on SIGTERM, spread client disconnects over this window",
  unreadyDrainGraceMs: "unready this long, move clients to other nodes (0: never)",
  metrics: "serve Prometheus metrics at /metrics",
  workers: "worker processes sharing the port: a number, or auto (one per core)",
  balancing: "round-robin or least-connections, across workers",
  workerStatsIntervalMs: "with workers, log one stats line per worker this often (0: never)",
};

const SCALAR_KEYS = NODE_OPTION_KEYS.filter((k): k is ScalarKey => !(STRUCTURED_KEYS as readonly string[]).includes(k));

/** `pingIntervalMs` → `ping-interval-ms`. */
export const flagName = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** `pingIntervalMs` → `HUBCAST_PING_INTERVAL_MS`. */
export const envName = (key: string): string => `HUBCAST_${flagName(key).replace(/-/g, "_").toUpperCase()}`;

/** The `parseArgs` option table for `hubcast start`. */
export function startFlags(): Record<string, { type: "string" | "boolean"; short?: string }> {
  const flags: Record<string, { type: "string" | "boolean"; short?: string }> = {
    config: { type: "string", short: "c" },
    help: { type: "boolean", short: "h" },
    [PUSHER_APP_FLAG]: { type: "string" },
  };
  for (const key of SCALAR_KEYS) {
    const isBoolean = typeof NODE_DEFAULTS[key] === "boolean";
    flags[flagName(key)] = { type: isBoolean ? "boolean" : "string" };
    if (isBoolean) flags[`no-${flagName(key)}`] = { type: "boolean" };
  }
  return flags;
}

function convert(key: ScalarKey, raw: string | boolean, source: string): NodeOptions[ScalarKey] {
  const expected = NODE_DEFAULTS[key];
  if (typeof expected === "number") {
    const text = String(raw).trim();
    const n = Number(text.replace(/_/g, ""));
    if (text === "" || !Number.isInteger(n))
      throw new UsageError(`${source}: expected a whole number, got "${String(raw)}"`);
    return n;
  }
  if (typeof expected === "boolean") {
    if (typeof raw === "boolean") return raw;
    const v = raw.trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(v)) return true;
    if (["0", "false", "no", "off"].includes(v)) return false;
    throw new UsageError(`${source}: expected true or false, got "${raw}"`);
  }
  return String(raw);
}

/** Reads a JSON config file; errors name the file and what to fix. */
export function readConfigFile(path: string): NodeOptions {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`config file ${path} is not valid JSON: ${jsonErrorMessage(err, text)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`config file ${path} must hold a JSON object like {"port": 8080}`);
  }
  return value as NodeOptions;
}

/**
 * Merges the sources of `hubcast start` options: flags over environment over config file.
 * Defaults are left to `resolveNodeOptions`, which also validates the result.
 */
export function collectOptions(
  flags: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): NodeOptions {
  const configPath = (flags["config"] as string | undefined) ?? env["HUBCAST_CONFIG"];
  const options: Record<string, unknown> = configPath === undefined ? {} : { ...readConfigFile(configPath) };
  for (const key of SCALAR_KEYS) {
    const envValue = env[envName(key)];
    if (envValue !== undefined && envValue !== "") options[key] = convert(key, envValue, envName(key));
    const flag = flags[flagName(key)];
    if (flag !== undefined) options[key] = convert(key, flag, `--${flagName(key)}`);
    if (flags[`no-${flagName(key)}`] === true) options[key] = false;
  }
  const flagApp = flags[PUSHER_APP_FLAG];
  const envApp = env[PUSHER_APP_ENV];
  const pusherApp = typeof flagApp === "string" ? flagApp : envApp !== undefined && envApp !== "" ? envApp : undefined;
  if (pusherApp !== undefined) options.pusherApps = withPusherApp(options.pusherApps, pusherApp);
  return options as NodeOptions;
}

/** The config file's apps plus the one `id:key:secret` gives (replacing a configured app with its id). */
function withPusherApp(configured: unknown, value: string): PusherAppOptions[] {
  let app: PusherAppOptions;
  try {
    app = parsePusherAppFlag(value);
  } catch (err) {
    throw new UsageError(
      `--${PUSHER_APP_FLAG} / ${PUSHER_APP_ENV}: ${(err as OptionError).message.replace(/^[^:]*: /, "")}`,
    );
  }
  const others = Array.isArray(configured)
    ? (configured as PusherAppOptions[]).filter((a) => (a as { id?: unknown }).id !== app.id)
    : [];
  return [...others, app];
}

/** The width `--help` output keeps within, in columns. */
export const HELP_WIDTH = 100;

/** One option in `--help`: its flag, environment variable and default (when it has them), and meaning. */
export interface OptionEntry {
  flag: string;
  env?: string;
  fallback?: string;
  meaning: string;
}

/**
 * Options for `--help`, one entry each: the flag with its environment variable and default on
 * one line, then the meaning, indented and wrapped to {@link HELP_WIDTH}.
 */
export function formatOptions(entries: readonly OptionEntry[]): string {
  const flagWidth = Math.max(...entries.map((e) => e.flag.length));
  return entries
    .map((e) => {
      const source =
        e.env === undefined
          ? ""
          : `${e.env}, default ${e.fallback === undefined || e.fallback === "" ? "(none)" : e.fallback}`;
      return `${`  ${e.flag.padEnd(flagWidth)}  ${source}`.trimEnd()}\n${wrap(e.meaning, 6)}`;
    })
    .join("\n");
}

/** The options of `hubcast start --help`. */
export function optionsHelp(): string {
  const entries: OptionEntry[] = SCALAR_KEYS.map((key) => {
    const isBoolean = typeof NODE_DEFAULTS[key] === "boolean";
    const flag = isBoolean
      ? `--[no-]${flagName(key)}`
      : `--${flagName(key)} <${typeof NODE_DEFAULTS[key] === "number" ? "n" : "value"}>`;
    return { flag, env: envName(key), fallback: String(NODE_DEFAULTS[key]), meaning: DESCRIPTIONS[key] };
  });
  entries.unshift({
    flag: "-c, --config <file>",
    env: "HUBCAST_CONFIG",
    meaning: "JSON config file; flags and env override it",
  });
  entries.push({
    flag: `--${PUSHER_APP_FLAG} <id:key:secret>`,
    env: PUSHER_APP_ENV,
    meaning:
      "serve one Pusher app (pusher-js, Laravel Echo, the Pusher server SDKs) besides the config file's pusherApps",
  });
  entries.push({ flag: "-h, --help", meaning: "show this help" });
  return formatOptions(entries);
}

/** `text` in lines of at most {@link HELP_WIDTH} columns, each indented by `indent` spaces. */
export function wrap(text: string, indent: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line !== "" && indent + line.length + 1 + word.length > HELP_WIDTH) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines.map((l) => `${" ".repeat(indent)}${l}`).join("\n");
}

/**
 * A `parseArgs` failure as a message for the user: an unknown flag gets the nearest known one
 * (`--prot` → `--port`), other failures keep Node's message.
 */
export function flagsErrorMessage(err: unknown, options: Readonly<Record<string, unknown>>): string {
  const message = err instanceof Error ? err.message : String(err);
  const unknown =
    (err as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
      ? /'(-{1,2}[^'\s]+)'/.exec(message)?.[1]
      : undefined;
  if (unknown === undefined) return message;
  const known = Object.keys(options).map((name) => `--${name}`);
  const guess = closest(unknown.split("=")[0] ?? unknown, known);
  return guess === undefined ? `unknown option '${unknown}'` : `unknown option '${unknown}'; did you mean ${guess}?`;
}

/** `JSON.parse`'s complaint about `text`, with the line and column Node 20 leaves out. */
export function jsonErrorMessage(err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : String(err);
  const at = /at position (\d+)/.exec(message);
  if (at === null) return message;
  const offset = Number(at[1]);
  const before = text.slice(0, offset).split("\n");
  const line = before.length;
  const column = (before.at(-1)?.length ?? 0) + 1;
  return `${message.replace(/( in JSON)? at position \d+.*$/, "")} at line ${line}, column ${column}`;
}
