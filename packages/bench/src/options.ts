import { cpus } from "node:os";
import { MAX_PAYLOAD_BYTES, MIN_PAYLOAD_BYTES } from "./payload.js";
import { closest } from "@hubcast/protocol/suggest";
import { adapterByName } from "./peers/index.js";
import type { ProtocolAdapter } from "./peers/index.js";
import { DEFAULT_PUSHER_APP, httpBase, pusherUrl } from "./pusher/app.js";
import type { PusherApp } from "./pusher/app.js";
import { TRANSPORTS, Transport } from "./transport.js";
import { parseWsTarget } from "./ws/handshake.js";

/** The scenarios `hubcast bench` runs. */
export const Scenario = {
  connect: "connect",
  fanout: "fanout",
  chat: "chat",
  crossNode: "cross-node",
} as const;
export type Scenario = (typeof Scenario)[keyof typeof Scenario];

/** Connections one worker process holds at most by default: well under a 20,000 open-files limit. */
export const MAX_CONNECTIONS_PER_PROCESS = 15_000;

/** A misuse of `hubcast bench`: the message names the option and the fix. */
export class BenchUsageError extends Error {
  override readonly name = "BenchUsageError";
  readonly code = "BENCH_USAGE";
}

/** What a bench run is asked to do; every field is optional and {@link resolveBenchOptions} applies defaults. */
export interface BenchOptions {
  scenario: Scenario;
  /**
   * WebSocket URLs; cross-node publishes on the first and subscribes on the others. With
   * protocol "pusher", `ws://host:port` gains `/app/{key}?protocol=7&client=js&version=8.4.0`.
   * @default ["ws://127.0.0.1:8080/ws"] (pusher: ["ws://127.0.0.1:8080"])
   */
  urls?: string[];
  /** Connections: idle ones (connect), subscribers (fanout, cross-node), members (chat). @default 1000 */
  connections?: number;
  /** Channels the connections spread over (connect, fanout, cross-node); connect with 0 subscribes to none. @default 1 */
  channels?: number;
  /** Members per chat channel. @default 5 */
  members?: number;
  /** Publications per second in all, or "max": as fast as they are delivered. @default 10 (chat: one per member per second) */
  rate?: number | "max";
  /** Publishing connections (fanout, cross-node); at least one per channel. @default enough for 50/s each */
  publishers?: number;
  /** Unanswered publications each publisher keeps in flight with rate "max". @default 16 */
  window?: number;
  /** Encoded size of each publication's data, JSON quotes included. @default 64 */
  payloadBytes?: number;
  /** Measured seconds (connect: how long the connections are held after the ramp). @default 10 (connect 5) */
  durationS?: number;
  /** Seconds of publishing before measuring starts. @default 2 (connect 0) */
  warmupS?: number;
  /** Client worker processes; undefined picks from the connection count. */
  processes?: number;
  /** Source addresses: a count N for 127.0.0.1…127.0.0.N, or explicit addresses. @default 1 (the OS picks) */
  sourceAddresses?: number | string[];
  /** New connections per second, over all processes. @default 1000 */
  rampRate?: number;
  /** Namespace of the bench channels (`<namespace>:<scenario>-<n>`). @default "bench" */
  namespace?: string;
  /** Protocol adapter. @default "hubcast" */
  protocol?: string;
  /**
   * What subscribers (connect, chat: every connection) connect over: WebSocket, or Hubcast's
   * emulations `http-stream` and `sse` (hubcast protocol only). Fanout and cross-node publishers
   * stay on WebSocket (or the API). @default "websocket"
   */
  transport?: Transport;
  /**
   * Publish through the server API at this base URL instead of a client connection. Protocol
   * "pusher" always publishes by HTTP. @default undefined (pusher: the first URL's host)
   */
  apiUrl?: string;
  /** Key for the server API (with apiUrl). With protocol "pusher": publish by Hubcast's API instead of Pusher's. */
  apiKey?: string;
  /** The Pusher app to connect to and publish for (protocol "pusher"). @default {@link DEFAULT_PUSHER_APP} */
  pusherApp?: PusherApp;
  /** Read server CPU and memory from /proc for these pids instead of scraping /metrics. @default [] */
  serverPids?: number[];
  /** Prometheus endpoints to scrape. @default /metrics on each distinct --url host */
  metricsUrls?: string[];
  /** Directory for result.json and report.html; nothing is written when undefined. */
  out?: string;
  /** Print the JSON result on stdout instead of the summary. @default false */
  json?: boolean;
}

/** Options with every default applied and checked. */
export interface ResolvedBenchOptions {
  readonly scenario: Scenario;
  readonly urls: readonly string[];
  readonly connections: number;
  readonly channels: number;
  readonly members: number;
  readonly rate: number | "max";
  readonly publishers: number;
  readonly window: number;
  readonly payloadBytes: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly processes: number;
  /** Empty: the OS picks the source address. */
  readonly sourceAddresses: readonly string[];
  readonly rampRate: number;
  readonly namespace: string;
  readonly protocol: string;
  readonly transport: Transport;
  readonly apiUrl: string | undefined;
  readonly apiKey: string | undefined;
  /** Set with protocol "pusher" only. */
  readonly pusherApp: PusherApp | undefined;
  readonly serverPids: readonly number[];
  readonly metricsUrls: readonly string[];
  readonly out: string | undefined;
  readonly json: boolean;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new BenchUsageError(message);
}

function positiveInt(name: string, value: number, min = 1): void {
  check(Number.isInteger(value) && value >= min, `${name} must be an integer ≥ ${min}, got ${value}`);
}

const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || /^127\./.test(host);

function resolveSourceAddresses(value: number | string[] | undefined, hosts: string[]): string[] {
  if (Array.isArray(value)) return value;
  const count = value ?? 1;
  check(
    Number.isInteger(count) && count >= 1 && count <= 254,
    `--source-addresses must be 1 to 254 (or a list of addresses), got ${count}`,
  );
  if (count === 1) return [];
  const remote = hosts.find((h) => !isLoopback(h));
  check(
    remote === undefined,
    `--source-addresses ${count} uses 127.0.0.1…127.0.0.${count}, which only reach loopback targets, but ${remote} is remote; list this machine's own addresses instead (--source-addresses 10.0.0.5,10.0.0.6)`,
  );
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`);
}

/** Default process count: enough to stay under the per-process cap, and one per core for big runs. */
export function autoProcesses(totalConnections: number): number {
  const byLimit = Math.ceil(totalConnections / MAX_CONNECTIONS_PER_PROCESS);
  const byCores = Math.min(cpus().length, Math.ceil(totalConnections / 2_000));
  return Math.max(1, byLimit, byCores);
}

/** Applies defaults, validates, and freezes; throws {@link BenchUsageError} naming the option and the fix. */
export function resolveBenchOptions(opts: BenchOptions): ResolvedBenchOptions {
  const scenario = opts.scenario;
  check(
    Object.values(Scenario).includes(scenario),
    `unknown scenario "${String(scenario)}"; use one of: ${Object.values(Scenario).join(", ")}`,
  );
  const protocol = opts.protocol ?? "hubcast";
  const adapter = resolveAdapter(protocol, scenario);
  const pusherApp = resolvePusherApp(opts.pusherApp, protocol);
  const urls = resolveUrls(opts.urls, pusherApp);
  const hosts = urls.map((url) => parseWsTarget(url).host);
  if (scenario === Scenario.crossNode) {
    check(
      urls.length >= 2,
      "cross-node needs at least two --url values: the first is published to, the others are subscribed to",
    );
  }
  const connections = opts.connections ?? 1000;
  positiveInt("--connections", connections);
  check(
    scenario !== Scenario.chat || opts.channels === undefined,
    "chat takes --members (people per channel), not --channels; channels = connections / members",
  );
  const channels = opts.channels ?? 1;
  positiveInt("--channels", channels, scenario === Scenario.connect ? 0 : 1);
  check(channels <= Math.max(1, connections), `--channels ${channels} is more than --connections ${connections}`);
  const members = opts.members ?? 5;
  positiveInt("--members", members);
  const publishing = scenario !== Scenario.connect;
  const rate = opts.rate ?? (scenario === Scenario.chat ? connections : 10);
  check(
    rate === "max" || (Number.isFinite(rate) && rate > 0),
    `--rate must be a positive number of publications per second or "max", got ${rate}`,
  );
  const publishers =
    scenario === Scenario.chat
      ? connections
      : (opts.publishers ?? Math.max(channels, rate === "max" ? 1 : Math.ceil(rate / 50)));
  if (publishing) {
    positiveInt("--publishers", publishers);
    check(
      publishers >= channels || scenario === Scenario.chat,
      `--publishers ${publishers} is fewer than --channels ${channels}; every channel needs a publisher`,
    );
  }
  const window = opts.window ?? 16;
  positiveInt("--window", window);
  const payloadBytes = opts.payloadBytes ?? 64;
  check(
    Number.isInteger(payloadBytes) && payloadBytes >= MIN_PAYLOAD_BYTES && payloadBytes <= MAX_PAYLOAD_BYTES,
    `--payload-bytes must be an integer from ${MIN_PAYLOAD_BYTES} (room for the sequence number and timestamp) to ${MAX_PAYLOAD_BYTES}, got ${payloadBytes}`,
  );
  const durationS = opts.durationS ?? (scenario === Scenario.connect ? 5 : 10);
  check(
    Number.isFinite(durationS) && durationS > 0,
    `--duration must be a positive number of seconds, got ${durationS}`,
  );
  const warmupS = opts.warmupS ?? (scenario === Scenario.connect ? 0 : 2);
  check(Number.isFinite(warmupS) && warmupS >= 0, `--warmup must be a number of seconds ≥ 0, got ${warmupS}`);
  // Pusher clients cannot publish to public channels: its publishers always go by HTTP.
  const apiUrl = opts.apiUrl ?? (pusherApp !== undefined && publishing ? httpBase(urls[0] as string) : undefined);
  const clientConnections =
    connections + (publishing && scenario !== Scenario.chat && apiUrl === undefined ? publishers : 0);
  const processes = opts.processes ?? autoProcesses(clientConnections);
  positiveInt("--processes", processes);
  check(processes <= 256, `--processes ${processes} is more than 256`);
  const sourceAddresses = resolveSourceAddresses(opts.sourceAddresses, hosts);
  const rampRate = opts.rampRate ?? 1000;
  check(
    Number.isFinite(rampRate) && rampRate > 0,
    `--ramp-rate must be a positive number of connections per second, got ${rampRate}`,
  );
  const namespace = opts.namespace ?? "bench";
  check(
    /^[A-Za-z0-9_.-]{0,64}$/.test(namespace),
    `--namespace must be 0–64 of A-Z a-z 0-9 _ . - (empty: the default namespace), got "${namespace}"`,
  );
  const transport = resolveTransport(opts.transport, adapter.name);
  check(
    (opts.apiUrl === undefined) === (opts.apiKey === undefined) || pusherApp !== undefined,
    "--api-url and --api-key go together: the server API needs both",
  );
  check(
    opts.apiUrl === undefined || /^https?:\/\//.test(opts.apiUrl),
    `--api-url must be an http:// or https:// base URL, got "${opts.apiUrl}"`,
  );
  check(
    opts.apiUrl === undefined || scenario === Scenario.fanout || scenario === Scenario.crossNode,
    "--api-url is for fanout and cross-node; chat members publish on their own connections",
  );
  const serverPids = opts.serverPids ?? [];
  for (const pid of serverPids) positiveInt("--server-pid", pid);
  const metricsUrls = opts.metricsUrls ?? (serverPids.length > 0 ? [] : defaultMetricsUrls(urls));
  return Object.freeze({
    scenario,
    urls: Object.freeze([...urls]),
    connections,
    channels: scenario === Scenario.chat ? Math.ceil(connections / members) : channels,
    members,
    rate,
    publishers: publishing ? publishers : 0,
    window,
    payloadBytes,
    durationS,
    warmupS,
    processes,
    sourceAddresses: Object.freeze(sourceAddresses),
    rampRate,
    namespace,
    protocol,
    transport,
    apiUrl: apiUrl?.replace(/\/+$/, ""),
    apiKey: opts.apiKey,
    pusherApp,
    serverPids: Object.freeze([...serverPids]),
    metricsUrls: Object.freeze([...metricsUrls]),
    out: opts.out,
    json: opts.json ?? false,
  });
}

/** The `--protocol` adapter, checked: a known one, able to run `scenario`. */
function resolveAdapter(protocol: string, scenario: Scenario): ProtocolAdapter {
  let adapter: ProtocolAdapter;
  try {
    adapter = adapterByName(protocol);
  } catch (err) {
    throw new BenchUsageError((err as Error).message);
  }
  const unsupported = adapter.unsupportedScenarios?.[scenario];
  check(unsupported === undefined, `--protocol ${protocol} cannot run ${scenario}: ${unsupported}`);
  return adapter;
}

/** The Pusher app for protocol "pusher" (the bench default when none is given); none for the others. */
function resolvePusherApp(app: PusherApp | undefined, protocol: string): PusherApp | undefined {
  if (protocol === "pusher") return app ?? DEFAULT_PUSHER_APP;
  check(app === undefined, `--pusher-app is for the Pusher protocol: add --protocol pusher (now ${protocol})`);
  return undefined;
}

/** The `--url` values, checked; with a Pusher app, on its `/app/{key}` path. */
function resolveUrls(given: string[] | undefined, pusherApp: PusherApp | undefined): string[] {
  const urls = given ?? [pusherApp === undefined ? "ws://127.0.0.1:8080/ws" : "ws://127.0.0.1:8080"];
  check(urls.length > 0, "--url needs at least one URL");
  return urls.map((url) => {
    try {
      parseWsTarget(url);
      return pusherApp === undefined ? url : pusherUrl(url, pusherApp.key);
    } catch (err) {
      throw new BenchUsageError(`--url: ${(err as Error).message}`);
    }
  });
}

/** The `--transport` value, checked: a known one (with the nearest when it looks like a typo), hubcast protocol for the emulations. */
function resolveTransport(value: string | undefined, protocol: string): Transport {
  const transport = value ?? Transport.websocket;
  if (!(TRANSPORTS as readonly string[]).includes(transport)) {
    const guess = closest(transport, TRANSPORTS);
    throw new BenchUsageError(
      guess === undefined
        ? `--transport ${transport} is not known; use one of: ${TRANSPORTS.join(", ")}`
        : `--transport ${transport} is not known; did you mean ${guess}?`,
    );
  }
  check(
    transport === Transport.websocket || protocol === "hubcast",
    `--transport ${transport} is Hubcast's emulation; --protocol ${protocol} speaks WebSocket only (drop --transport)`,
  );
  return transport as Transport;
}

/** `http(s)://host:port/metrics` for each distinct host:port among `urls`. */
export function defaultMetricsUrls(urls: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const url of urls) {
    const t = parseWsTarget(url);
    seen.add(`${t.secure ? "https" : "http"}://${t.hostHeader}/metrics`);
  }
  return [...seen];
}
