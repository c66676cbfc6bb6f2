import { parseArgs } from "node:util";
import { RedisKeys, RedisUnavailableError, connectRedis } from "@hubcast/emitter";
import type { RedisTarget } from "@hubcast/emitter";
import { NatsUnavailableError, readNatsRegistry } from "../engine/nats.js";
import { NODE_DEFAULTS, resolveNodeOptions } from "../options.js";
import type { NodeOptions } from "../options.js";
import { RedisRegistry } from "../registry/redis.js";
import type { NodeInfo } from "../registry/registry.js";
import { OptionError } from "../validation.js";
import { envName, flagName, flagsErrorMessage, formatOptions } from "./settings.js";
import type { OptionEntry } from "./settings.js";

/** The node options `hubcast nodes` reads, with what each means here. */
const OPTIONS = [
  ["engine", "<name>", "the nodes' --engine: redis or nats"],
  ["redisUrl", "<url>", "the Redis server the nodes use"],
  ["redisCluster", "<urls>", "comma-separated Redis Cluster seed URLs (instead of --redis-url)"],
  ["redisPrefix", "<prefix>", "the nodes' --redis-prefix"],
  ["natsUrl", "<urls>", "with --engine nats: the NATS servers the nodes use"],
] as const satisfies readonly (readonly [keyof NodeOptions, string, string])[];

function optionsTable(): string {
  const entries: OptionEntry[] = OPTIONS.map(([key, arg, meaning]) => ({
    flag: `--${flagName(key)} ${arg}`,
    env: envName(key),
    fallback: String(NODE_DEFAULTS[key]),
    meaning,
  }));
  entries.push({ flag: "--redis <url>", meaning: "the same as --redis-url" });
  entries.push({ flag: "--json", meaning: 'print JSON, {"nodes": [...]}, instead of a table' });
  entries.push({ flag: "-h, --help", meaning: "show this help" });
  return formatOptions(entries);
}

/** `hubcast nodes --help`. */
export const NODES_HELP = `Usage: hubcast nodes [options]

Lists the live nodes of a cluster on the redis or nats engine, read straight from Redis
(or NATS): the registry every node refreshes while it runs (a node that stops leaves it
within its --node-ttl-ms). No node has to be reachable over HTTP. Options come from flags, then
environment variables, then the defaults, as for 'hubcast start'.

Options (flag, environment variable, default, meaning):
${optionsTable()}

Exit status: 0 listed (maybe no nodes), 1 Redis (or NATS) unreachable, 2 bad options.

Examples:
  hubcast nodes --redis-url redis://10.0.0.2:6379
  hubcast nodes --redis redis://10.0.0.2:6379
  HUBCAST_REDIS_PREFIX=staging hubcast nodes --json
  hubcast nodes --engine nats --nats-url nats://10.0.0.3:4222`;

/** Exit statuses of `hubcast nodes`. */
export const NodesExit = { ok: 0, unavailable: 1, usage: 2 } as const;
/** One of {@link NodesExit}'s values. */
export type NodesExit = (typeof NodesExit)[keyof typeof NodesExit];

function usage(message: string): NodesExit {
  process.stderr.write(`hubcast: ${message}\nRun 'hubcast nodes --help' for usage.\n`);
  return NodesExit.usage;
}

/** `1h 02m`, `3m 05s`, `12s`, `2d 3h`; negative (clock skew) counts as 0. */
export function formatUptime(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const [days, hours, minutes, seconds] = [
    Math.floor(total / 86_400),
    Math.floor((total % 86_400) / 3_600),
    Math.floor((total % 3_600) / 60),
    total % 60,
  ];
  const two = (n: number): string => String(n).padStart(2, "0");
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${two(minutes)}m`;
  if (minutes > 0) return `${minutes}m ${two(seconds)}s`;
  return `${seconds}s`;
}

/** The nodes as an aligned table, ids shortened to 8 characters, uptimes relative to `now` (ms). */
export function formatNodesTable(nodes: readonly NodeInfo[], now: number): string {
  const rows = [["ID", "ADDRESS", "CONNECTIONS", "SUBSCRIPTIONS", "CHANNELS", "UPTIME", "VERSION"]];
  for (const n of nodes) {
    rows.push([
      n.id.slice(0, 8),
      n.address,
      String(n.connections),
      String(n.subscriptions),
      String(n.channels),
      formatUptime(now - n.startedAt),
      n.version,
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  const lines = rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
  const connections = nodes.reduce((sum, n) => sum + n.connections, 0);
  lines.push(
    "",
    `${nodes.length} node${nodes.length === 1 ? "" : "s"}, ${connections} connection${connections === 1 ? "" : "s"}`,
  );
  return lines.join("\n");
}

interface Source {
  /** Redis, or the NATS servers when the nodes run the nats engine. */
  target: RedisTarget | { nats: string[] };
  prefix: string;
  /** The Redis or NATS URL(s), for messages. */
  where: string;
}

/** Flags over environment over defaults, validated with the node's own option rules. */
function resolveSource(flags: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Source {
  const options: NodeOptions = {};
  const origin = new Map<string, string>();
  for (const [key] of OPTIONS) {
    const flag = flags[flagName(key)];
    const fromEnv = env[envName(key)];
    if (typeof flag === "string") {
      options[key] = flag;
      origin.set(key, `--${flagName(key)}`);
    } else if (fromEnv !== undefined && fromEnv !== "") {
      options[key] = fromEnv;
      origin.set(key, envName(key));
    }
  }
  try {
    const o = resolveNodeOptions(options);
    if (o.engine === "nats") return { target: { nats: o.natsUrl.split(",") }, prefix: o.redisPrefix, where: o.natsUrl };
    const target: RedisTarget =
      o.redisCluster === "" ? { url: o.redisUrl } : { clusterUrls: o.redisCluster.split(",") };
    return { target, prefix: o.redisPrefix, where: o.redisCluster === "" ? o.redisUrl : o.redisCluster };
  } catch (err) {
    if (!(err instanceof OptionError)) throw err;
    // Name the flag or variable the user typed rather than the option key.
    throw new OptionError(origin.get(err.option) ?? err.option, err.message.slice(err.option.length + 2));
  }
}

/** Reads the registry once; the connection is closed before this resolves. */
async function readNodes(source: Source): Promise<NodeInfo[]> {
  if ("nats" in source.target) return readNatsRegistry(source.target.nats, source.prefix);
  // Connection errors are not printed one by one: the first-connect failure carries the last
  // of them, and a later one fails the command below.
  const redis = await connectRedis(source.target, () => undefined);
  try {
    return await new RedisRegistry(redis, new RedisKeys(source.prefix), NODE_DEFAULTS.nodeTtlMs).list();
  } finally {
    await redis.close();
  }
}

/**
 * `hubcast nodes`: prints the cluster view from Redis as a table or, with `--json`, as
 * `{"nodes": [NodeInfo…]}`. Resolves with the exit status; writes to stdout and stderr.
 */
export async function nodesCommand(args: string[], env: NodeJS.ProcessEnv): Promise<NodesExit> {
  const options = Object.fromEntries(OPTIONS.map(([key]) => [flagName(key), { type: "string" as const }]));
  // `--redis` is the short spelling of `--redis-url`.
  const all = {
    ...options,
    redis: { type: "string" as const },
    json: { type: "boolean" as const },
    help: { type: "boolean" as const, short: "h" },
  };
  let flags: Record<string, string | boolean | undefined>;
  try {
    ({ values: flags } = parseArgs({ args, options: all, strict: true, allowPositionals: false }));
    if (flags["redis"] !== undefined) flags[flagName("redisUrl")] ??= flags["redis"];
  } catch (err) {
    return usage(flagsErrorMessage(err, all));
  }
  if (flags["help"] === true) {
    process.stdout.write(`${NODES_HELP}\n`);
    return NodesExit.ok;
  }
  let source: Source;
  try {
    source = resolveSource(flags, env);
  } catch (err) {
    return usage((err as Error).message);
  }
  let nodes: NodeInfo[];
  try {
    nodes = await readNodes(source);
  } catch (err) {
    const hint =
      err instanceof RedisUnavailableError
        ? "Is Redis running there? Point --redis-url (or --redis-cluster) at the Redis the nodes use.\n"
        : err instanceof NatsUnavailableError
          ? "Is NATS running there? Point --nats-url at the NATS servers the nodes use.\n"
          : "";
    process.stderr.write(
      `hubcast: cannot read the node registry from ${source.where}: ${(err as Error).message}\n${hint}`,
    );
    return NodesExit.unavailable;
  }
  if (flags["json"] === true) {
    process.stdout.write(`${JSON.stringify({ nodes }, null, 2)}\n`);
  } else if (nodes.length === 0) {
    process.stdout.write(`no live nodes under prefix "${source.prefix}" in ${source.where}\n`);
  } else {
    process.stdout.write(`${formatNodesTable(nodes, Date.now())}\n`);
  }
  return NodesExit.ok;
}
