import { isIP } from "node:net";
import { parseArgs } from "node:util";
import { BenchUsageError, MAX_CONNECTIONS_PER_PROCESS, Scenario } from "../options.js";
import type { BenchOptions } from "../options.js";
import { adapters } from "../peers/index.js";
import { parsePusherApp } from "../pusher/app.js";
import type { PusherApp } from "../pusher/app.js";
import { TRANSPORTS } from "../transport.js";
import type { Transport } from "../transport.js";
import { flagsErrorMessage, unknownScenarioMessage } from "./suggest.js";

/** What each scenario does, for the help texts. */
const SCENARIO_TEXT: Record<Scenario, string> = {
  connect: `Ramps --connections idle connections (each subscribed to one of --channels channels;
--channels 0 subscribes to none), holds them for --duration seconds, and reports the
connect rate and times, failures, and the server's memory per connection.`,
  fanout: `Subscribes --connections clients to one channel (or spreads them over --channels), then
--publishers publish at --rate publications/s in all (or "max": as fast as they are
delivered) for --warmup + --duration seconds. Reports end-to-end latency, deliveries/s,
lost/duplicated/out-of-order messages and the server's CPU per delivery.`,
  chat: `Puts --connections members into channels of --members each; every member subscribes to its
channel and publishes to it, at --rate publications/s in all (default: one per member per
second). Reports what fanout reports.`,
  "cross-node": `Like fanout across nodes: publishers connect to the first --url, subscribers to the others
(round-robin), so every publication crosses the broker (run the nodes on the redis engine).`,
};

/** Option lines of the help texts; `scenarios` limits where a line shows. */
const OPTION_LINES: { text: string; scenarios?: Scenario[] }[] = [
  {
    text: "--url URL[,URL…]         WebSocket endpoint(s), comma-separated or repeated (default ws://127.0.0.1:8080/ws); cross-node: publish on the first; --protocol pusher: ws://host:port, the bench adds /app/KEY?protocol=7",
  },
  { text: "--connections N          connections (subscribers; chat: members) (default 1000)" },
  {
    text: "--channels N             channels to spread subscribers over (default 1; connect: 0 = no subscription)",
    scenarios: ["connect", "fanout", "cross-node"],
  },
  { text: "--members N              members per chat channel (default 5)", scenarios: ["chat"] },
  {
    text: '--rate N|max             publications per second in all, or "max" (default 10; chat: one per member per second)',
    scenarios: ["fanout", "chat", "cross-node"],
  },
  {
    text: "--publishers N           publishing connections (default: one per 50 publications/s, at least one per channel)",
    scenarios: ["fanout", "cross-node"],
  },
  {
    text: "--window N               with --rate max: unanswered publications per publisher (default 16)",
    scenarios: ["fanout", "chat", "cross-node"],
  },
  {
    text: "--payload-bytes N        size of each publication's data, JSON quotes included (default 64, at least 48)",
    scenarios: ["fanout", "chat", "cross-node"],
  },
  {
    text: "--duration S             measured seconds (default 10; connect: seconds to hold the connections, default 5)",
  },
  {
    text: "--warmup S               seconds of publishing before measuring (default 2)",
    scenarios: ["fanout", "chat", "cross-node"],
  },
  {
    text: `--processes N            client worker processes (default: from the connection count, ≤ ${MAX_CONNECTIONS_PER_PROCESS.toLocaleString("en-US")} each)`,
  },
  {
    text: "--source-addresses N|IPs 127.0.0.1…127.0.0.N as source addresses, or a list of local IPs (default 1: the OS picks)",
  },
  { text: "--ramp-rate N            new connections per second, all processes together (default 1000)" },
  {
    text: '--namespace NAME         namespace of the bench channels "<namespace>:<scenario>-<n>" (default bench; --protocol pusher: "<namespace>-<scenario>-<n>")',
  },
  { text: `--protocol NAME          server protocol: ${Object.keys(adapters).join(", ")} (default hubcast)` },
  {
    text: "--pusher-app ID:KEY:SEC  with --protocol pusher: the app to connect to (/app/KEY) and publish for (POST /apps/ID/events, signed with SEC) (default bench:bench-key:hubcast-bench-secret, or HUBCAST_PUSHER_APP); start the node with the same --pusher-app",
    scenarios: ["connect", "fanout", "cross-node"],
  },
  {
    text: `--transport NAME         what subscribers connect over: ${TRANSPORTS.join(", ")} (default websocket); http-stream and sse are Hubcast's emulations (POST /emulation, GET /emulation beside the --url path); publishers stay on WebSocket`,
    scenarios: ["fanout", "cross-node"],
  },
  {
    text: `--transport NAME         what the connections use: ${TRANSPORTS.join(", ")} (default websocket); http-stream and sse are Hubcast's emulations (POST /emulation, GET /emulation beside the --url path)`,
    scenarios: ["connect"],
  },
  {
    text: `--transport NAME         what members connect over: ${TRANSPORTS.join(", ")} (default websocket); http-stream and sse are Hubcast's emulations, and members publish by POST /emulation/send`,
    scenarios: ["chat"],
  },
  {
    text: "--api-url URL            publish through the server API at this base URL (http://host:port) instead (--protocol pusher always publishes by HTTP: default the --url host)",
    scenarios: ["fanout", "cross-node"],
  },
  {
    text: "--api-key KEY            server API key (or HUBCAST_API_KEY); --protocol pusher: publish by Hubcast's POST /api/publish instead of the Pusher HTTP API",
    scenarios: ["fanout", "cross-node"],
  },
  {
    text: "--metrics-url URL[,URL…] Prometheus endpoints, comma-separated or repeated, to read server CPU and memory from (default: /metrics of each --url)",
  },
  { text: "--server-pid PID[,PID…]  read server CPU and memory from /proc instead (servers without /metrics)" },
  { text: "--out DIR                write result.json and report.html (charts) into DIR" },
  { text: "--json                   print the JSON result on stdout instead of the summary" },
  { text: "-h, --help               show this help" },
];

/** `hubcast bench --help`. */
export const BENCH_HELP = `Usage: hubcast bench <scenario> [options]

Load-tests a Hubcast deployment (or any server with a protocol adapter) from this machine,
spreading connections over worker processes and source addresses.

Scenarios:
  connect      ramp idle connections; connect rate, failures, server memory per connection
  fanout       many subscribers on one channel; latency, losses, server CPU per delivery
  chat         many small channels, every member publishing
  cross-node   publish on one node, subscribe on others (redis engine)

Run 'hubcast bench <scenario> --help' for a scenario's options. The server needs a namespace
that allows client publishing, e.g. in its config file:
  {"namespaces": {"bench": {"allowPublish": true}}}
and, for big runs, --max-connections-per-second 0 --command-rate-per-second 0.
Pusher protocol (pusher-js's wire format on /app/KEY): start the node with --pusher-app
ID:KEY:SECRET and run e.g. hubcast bench fanout --protocol pusher --url ws://host:8080
--pusher-app ID:KEY:SECRET. See docs/bench.md.`;

/** Help keeps within this many columns. */
const HELP_WIDTH = 100;

/** An option's help line folded to {@link HELP_WIDTH}, continuation lines aligned under its meaning. */
function hangingWrap(line: string): string {
  const meaningAt = 2 + line.slice(2).search(/ {2}\S/) + 2; // after the indent, the flag and its padding
  const folded: string[] = [];
  let rest = line;
  while (rest.length > HELP_WIDTH) {
    const cut = rest.lastIndexOf(" ", HELP_WIDTH);
    if (cut <= meaningAt) break; // one word longer than the room: leave it whole
    folded.push(rest.slice(0, cut));
    rest = `${" ".repeat(meaningAt)}${rest.slice(cut + 1)}`;
  }
  folded.push(rest);
  return folded.join("\n");
}

/** `hubcast bench <scenario> --help`. */
export function scenarioHelp(scenario: Scenario): string {
  const lines = OPTION_LINES.filter((l) => l.scenarios === undefined || l.scenarios.includes(scenario)).map((l) =>
    hangingWrap(`  ${l.text}`),
  );
  const example =
    scenario === "connect"
      ? "hubcast bench connect --connections 100000 --source-addresses 8 --ramp-rate 5000"
      : scenario === "fanout"
        ? "hubcast bench fanout --connections 10000 --rate 10 --duration 20 --out bench-out"
        : scenario === "chat"
          ? "hubcast bench chat --connections 5000 --members 5 --rate 5000"
          : "hubcast bench cross-node --url ws://10.0.0.1:8080/ws,ws://10.0.0.2:8080/ws \\\n      --connections 2000 --rate 100";
  return `Usage: hubcast bench ${scenario} [options]\n\n${SCENARIO_TEXT[scenario]}\n\nOptions:\n${lines.join("\n")}\n\nExample:\n  ${example}`;
}

const FLAGS = {
  // Repeatable, as well as comma-separated: `--url a --url b` is `--url a,b`, not just b.
  url: { type: "string", multiple: true },
  connections: { type: "string" },
  channels: { type: "string" },
  members: { type: "string" },
  rate: { type: "string" },
  publishers: { type: "string" },
  window: { type: "string" },
  "payload-bytes": { type: "string" },
  duration: { type: "string" },
  warmup: { type: "string" },
  processes: { type: "string" },
  "source-addresses": { type: "string" },
  "ramp-rate": { type: "string" },
  namespace: { type: "string" },
  protocol: { type: "string" },
  "pusher-app": { type: "string" },
  transport: { type: "string" },
  "api-url": { type: "string" },
  "api-key": { type: "string" },
  "metrics-url": { type: "string", multiple: true },
  "server-pid": { type: "string" },
  out: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Every flag `hubcast bench` takes (without the leading dashes); docs/bench.md documents each. */
export const BENCH_FLAG_NAMES: readonly string[] = Object.keys(FLAGS);

function num(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.replace(/_/g, ""));
  if (value.trim() === "" || !Number.isFinite(n))
    throw new BenchUsageError(`--${flag} expects a number, got "${value}"`);
  return n;
}

const list = (value: string | undefined): string[] | undefined =>
  value === undefined
    ? undefined
    : value
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");

/** `--pusher-app`, or HUBCAST_PUSHER_APP with --protocol pusher (the server reads the same variable). */
function pusherApp(
  flag: string | undefined,
  protocol: string | undefined,
  env: NodeJS.ProcessEnv,
): PusherApp | undefined {
  const value =
    flag ?? (protocol === "pusher" && env["HUBCAST_PUSHER_APP"] !== "" ? env["HUBCAST_PUSHER_APP"] : undefined);
  if (value === undefined) return undefined;
  try {
    return parsePusherApp(value);
  } catch (err) {
    throw new BenchUsageError((err as Error).message);
  }
}

function sourceAddresses(value: string | undefined): number | string[] | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value);
  const addresses = list(value) ?? [];
  const bad = addresses.find((a) => isIP(a) === 0);
  if (bad !== undefined || addresses.length === 0)
    throw new BenchUsageError(`--source-addresses expects a count (1–254) or IP addresses, got "${bad ?? value}"`);
  return addresses;
}

/**
 * What the command line asks for: help (asked for, or `misuse` when the scenario is missing,
 * which is a usage error: a script that forgot it should not pass), or a run.
 */
export type ParsedArgs = { help: string; misuse?: true } | { options: BenchOptions };

/**
 * Parses `hubcast bench` arguments (after "bench"); throws {@link BenchUsageError} on misuse,
 * with the nearest scenario or flag when the word looks like a typo of one.
 */
export function parseBenchArgs(args: readonly string[], env: NodeJS.ProcessEnv): ParsedArgs {
  const [scenario, ...rest] = args;
  if (scenario === undefined) return { help: BENCH_HELP, misuse: true };
  if (scenario === "--help" || scenario === "-h" || scenario === "help") return { help: BENCH_HELP };
  const scenarios: readonly string[] = Object.values(Scenario);
  if (!scenarios.includes(scenario)) throw new BenchUsageError(unknownScenarioMessage(scenario, scenarios));
  const s = scenario as Scenario;
  let parsed: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values: parsed } = parseArgs({ args: [...rest], options: FLAGS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new BenchUsageError(flagsErrorMessage(err, BENCH_FLAG_NAMES));
  }
  const values = {
    ...Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === "string")),
    // The repeatable flags, joined as if comma-separated.
    ...Object.fromEntries(
      Object.entries(parsed).flatMap(([k, v]) => (Array.isArray(v) ? [[k, v.join(",")] as const] : [])),
    ),
    json: parsed["json"] === true ? true : undefined,
    help: parsed["help"] === true,
  } as Record<string, string | undefined> & { json: true | undefined; help: boolean };
  if (values.help === true) return { help: scenarioHelp(s) };
  const rate = values.rate === "max" ? "max" : num("rate", values.rate);
  const pids = list(values["server-pid"])?.map((p) => num("server-pid", p) as number);
  const options: BenchOptions = { scenario: s };
  const set = <K extends keyof BenchOptions>(key: K, value: BenchOptions[K] | undefined): void => {
    if (value !== undefined) options[key] = value;
  };
  set("urls", list(values.url));
  set("connections", num("connections", values.connections));
  set("channels", num("channels", values.channels));
  set("members", num("members", values.members));
  set("rate", rate);
  set("publishers", num("publishers", values.publishers));
  set("window", num("window", values.window));
  set("payloadBytes", num("payload-bytes", values["payload-bytes"]));
  set("durationS", num("duration", values.duration));
  set("warmupS", num("warmup", values.warmup));
  set("processes", num("processes", values.processes));
  set("sourceAddresses", sourceAddresses(values["source-addresses"]));
  set("rampRate", num("ramp-rate", values["ramp-rate"]));
  set("namespace", values.namespace);
  set("protocol", values.protocol);
  set("pusherApp", pusherApp(values["pusher-app"], values.protocol, env));
  set("transport", values.transport as Transport | undefined);
  set("apiUrl", values["api-url"]);
  set("apiKey", values["api-key"] ?? (values["api-url"] === undefined ? undefined : env["HUBCAST_API_KEY"]));
  set("metricsUrls", list(values["metrics-url"]));
  set("serverPids", pids);
  set("out", values.out);
  set("json", values.json);
  return { options };
}
