/**
 * The command line of bench/scale/run.mjs: one table of options (flag, default, meaning), the
 * help printed from it, and the parser that applies the defaults and checks each value.
 */
import { parseArgs } from "node:util";

/** A command line that cannot run; the message names the option and the fix. Exit status 2. */
export class UsageError extends Error {
  name = "UsageError";
  code = "SCALE_USAGE";
}

/**
 * Every option: its flag, its value kind, its default (undefined: computed from the machine)
 * and what it means. The help text and the parser both read this table.
 */
export const OPTIONS = [
  {
    flag: "connections",
    value: "N",
    kind: "int",
    min: 1,
    default: 250_000,
    help: "subscribers the run holds (publishers come on top, one per channel)",
  },
  {
    flag: "broadcast-interval",
    value: "S",
    kind: "number",
    min: 0.1,
    default: 5,
    help: "seconds between two broadcasts to each connection",
  },
  {
    flag: "channels",
    value: "N",
    kind: "int",
    min: 1,
    default: 5,
    help: "channels the subscribers spread over, one publisher each, taking turns",
  },
  { flag: "payload-bytes", value: "N", kind: "int", min: 48, default: 64, help: "size of each publication's data" },
  {
    flag: "ramp-rate",
    value: "N",
    kind: "number",
    min: 1,
    default: 1500,
    help: "new connections per second, all bench processes together",
  },
  {
    flag: "warmup",
    value: "S",
    kind: "number",
    min: 0,
    default: undefined,
    help: "seconds of broadcasting before measuring (default: one broadcast interval)",
  },
  { flag: "duration", value: "S", kind: "number", min: 0.5, default: 60, help: "measured seconds of steady state" },
  {
    flag: "topology",
    value: "NAME",
    kind: "string",
    values: ["nodes", "cluster"],
    default: "nodes",
    help: "nodes: independent hubcast nodes on a redis-server of the run's own, each accepting its own connections; cluster: hubcast start --workers (the primary hands each socket to a worker)",
  },
  {
    flag: "workers",
    value: "N",
    kind: "int",
    min: 1,
    default: undefined,
    help: "server processes: nodes, or cluster workers (default: enough for the open-files limit, at least 2)",
  },
  {
    flag: "processes",
    value: "N",
    kind: "int",
    min: 1,
    default: undefined,
    help: "bench client processes (default: enough for the open-files limit, at least 2)",
  },
  {
    flag: "source-addresses",
    value: "N",
    kind: "int",
    min: 1,
    max: 254,
    default: undefined,
    help: "connect from 127.0.0.1 … 127.0.0.N (default: enough for the ephemeral ports)",
  },
  {
    flag: "balancing",
    value: "NAME",
    kind: "string",
    values: ["round-robin", "least-connections"],
    default: "least-connections",
    help: "--topology cluster: how the primary spreads connections over the workers (round-robin gave one of two workers 54 % of 20,000)",
  },
  {
    flag: "drain-window-ms",
    value: "MS",
    kind: "int",
    min: 0,
    default: 5000,
    help: "the server's drain window when the run stops it",
  },
  {
    flag: "budget",
    value: "S",
    kind: "number",
    min: 10,
    default: 1200,
    help: "seconds the whole run may take, start to stop; refused up front when the plan needs more",
  },
  {
    flag: "out",
    value: "DIR",
    kind: "string",
    default: undefined,
    help: "directory for the reports (default: bench/results/<date>-<connections>-scale)",
  },
  {
    flag: "check",
    kind: "boolean",
    default: false,
    help: "check the prerequisites, print the plan, and start nothing",
  },
  { flag: "help", kind: "boolean", default: false, help: "this text" },
];

export const HELP = `Usage: node bench/scale/run.mjs [options]

Holds many WebSocket connections on this machine, server and load generator together: checks
the machine (open files, ephemeral ports and source addresses, kernel settings, memory), starts
the server (W independent nodes on a redis-server of its own, or \`hubcast start --workers W\`
with --topology cluster), runs \`hubcast bench fanout\` with every connection subscribed and a
broadcast to each connection every --broadcast-interval seconds, reads the server's CPU and
memory per connection from every server process's /metrics, checks that no publication was
lost, duplicated or reordered, stops everything (the server drains), and writes result.json,
report.html, summary.md and scale.json into the output directory.

Options:
${OPTIONS.map((o) => {
  const name = `--${o.flag}${o.kind === "boolean" ? "" : ` ${o.value}`}`.padEnd(24);
  const def = o.default === undefined || o.kind === "boolean" ? "" : ` (default ${o.default})`;
  return `  ${name} ${o.help}${def}`;
}).join("\n")}

Examples:
  node bench/scale/run.mjs --check                      # the plan for 250,000, nothing started
  node bench/scale/run.mjs --connections 250000         # the full run (about 5 minutes on 2 cores)
  node bench/scale/run.mjs --connections 2000 --workers 2 --processes 2 --broadcast-interval 1 \\
      --channels 2 --duration 3 --out /tmp/scale-smoke  # a smoke run, under half a minute

Progress goes to stderr. Exit status: 0 every connection held and every publication delivered
once and in order; 1 the run failed or fell short (summary.md says how); 2 a usage error or a
prerequisite that is not met (the message says what to fix); 130 stopped with Ctrl-C.
See bench/scale/README.md.`;

function convert(o, raw) {
  if (o.kind === "boolean") return raw === true;
  if (o.kind === "string") {
    if (o.values !== undefined && !o.values.includes(raw))
      throw new UsageError(`--${o.flag} must be one of ${o.values.join(", ")}, got "${raw}"`);
    return raw;
  }
  const n = Number(String(raw).replace(/_/g, ""));
  const whole = o.kind === "int";
  if (String(raw).trim() === "" || !Number.isFinite(n) || (whole && !Number.isInteger(n)))
    throw new UsageError(`--${o.flag} expects ${whole ? "a whole number" : "a number"}, got "${raw}"`);
  if (n < o.min || (o.max !== undefined && n > o.max))
    throw new UsageError(
      `--${o.flag} must be ${o.max === undefined ? `at least ${o.min}` : `${o.min} to ${o.max}`}, got ${n}`,
    );
  return n;
}

const camel = (flag) => flag.replace(/-([a-z])/g, (_, c) => c.toUpperCase());

/**
 * Parses the arguments (after the script's path).
 * @returns {{ help: true } | { options: Record<string, any> }} options keyed by camelCase flag
 *   name; computed defaults stay undefined.
 */
export function parseOptions(argv) {
  const spec = Object.fromEntries(OPTIONS.map((o) => [o.flag, { type: o.kind === "boolean" ? "boolean" : "string" }]));
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(`${err.message.replace(/\. To specify .*$/s, "")} (see --help)`);
  }
  if (values.help === true) return { help: true };
  const options = {};
  for (const o of OPTIONS) {
    if (o.flag === "help") continue;
    options[camel(o.flag)] = values[o.flag] === undefined ? o.default : convert(o, values[o.flag]);
  }
  options.warmup ??= options.broadcastInterval;
  if (options.channels > options.connections)
    throw new UsageError(`--channels ${options.channels} is more than --connections ${options.connections}`);
  return { options };
}
