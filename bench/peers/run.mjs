#!/usr/bin/env node
/**
 * `npm run peers`: the peer benchmark. Starts each system in turn on loopback (Hubcast one
 * node over WebSocket, HTTP-streaming, SSE and the Pusher protocol, two nodes on Redis, cluster mode; Socket.IO one node and two nodes with its Redis
 * adapter; plain ws + Redis; ws with the frame built once), runs the same fanout and connect
 * scenarios against each with `hubcast bench --json`, prints a table with ratios relative to
 * Hubcast one node, writes results/<date>.json and .md, and stops every process it started
 * (also on Ctrl-C). See README.md.
 */
import { rmSync, writeFileSync, mkdirSync } from "node:fs";
import { join, relative } from "node:path";
import { backendPids, backendPidsOf, startBackends } from "./lib/backends.mjs";
import {
  createContext,
  fail as failWith,
  handleSignals,
  missingPrerequisite,
  onlyKeys,
  parseFlags,
  peersDir,
  runHubcastBench,
  versions,
} from "./lib/environment.mjs";
import { markdownReport, summarizeConnect, summarizeFanout, textTable } from "./lib/report.mjs";
import { HUBCAST_BENCH_FLAGS, SYSTEMS } from "./lib/systems.mjs";

const USAGE = `Usage: npm run peers [-- options]   (node run.mjs [options])

Runs the same fanout and connect scenarios of hubcast bench against Hubcast and its peers,
one system at a time on this machine, and prints server CPU per delivery, latency and RSS
per connection with ratios relative to Hubcast one node.

Options:
  --quick              2,000 subscribers × 10 s instead of 10,000 × 20 s
  --connections N      subscribers / idle connections (default 10000; --quick 2000)
  --duration S         measured fanout seconds (default 20; --quick 10)
  --only KEY[,KEY…]    run only these systems (${SYSTEMS.map((s) => s.key).join(", ")}); hubcast is always first
  --verbose            show hubcast bench's progress lines
  -h, --help           show this help

Needs: npm install in bench/peers, npm run build at the repository root, redis-server on PATH.`;

function options() {
  const values = parseFlags("peers", USAGE, {
    quick: { type: "boolean" },
    connections: { type: "string" },
    duration: { type: "string" },
    only: { type: "string" },
    verbose: { type: "boolean" },
  });
  const quick = values.quick === true;
  const connections = Number((values.connections ?? (quick ? "2000" : "10000")).replace(/_/g, ""));
  const durationS = Number(values.duration ?? (quick ? "10" : "20"));
  if (!Number.isInteger(connections) || connections < 1)
    fail(`--connections must be a positive integer, got ${values.connections}`, 2);
  if (!(durationS > 0)) fail(`--duration must be a positive number of seconds, got ${values.duration}`, 2);
  const only = onlyKeys("peers", values.only, SYSTEMS);
  const systems = SYSTEMS.filter((s) => only === undefined || s.key === "hubcast" || only.includes(s.key));
  return {
    quick,
    connections,
    durationS,
    warmupS: 2,
    rate: 10,
    payloadBytes: 64,
    connectHoldS: 5,
    systems,
    verbose: values.verbose === true,
  };
}

const fail = (message, code = 1) => failWith("peers", message, code);

/** Runs one scenario against a deployment with `hubcast bench --json` and resolves with its result. */
function bench(ctx, { label, scenario, system, deployment, pids }) {
  const o = ctx.options;
  const args =
    scenario === "fanout"
      ? [
          "--rate",
          String(o.rate),
          "--payload-bytes",
          String(o.payloadBytes),
          "--duration",
          String(o.durationS),
          "--warmup",
          String(o.warmupS),
        ]
      : ["--channels", "1", "--duration", String(o.connectHoldS)];
  return runHubcastBench(ctx, {
    label,
    scenario,
    system,
    urls: deployment.urls,
    pids,
    connections: o.connections,
    args,
  });
}

/** Runs both scenarios against one system, each on a freshly started deployment. */
async function runSystem(ctx, system) {
  // The engine's server (Redis or NATS) is counted apart, in the same column.
  const backend = backendPidsOf(ctx, system);
  const entry = {
    key: system.key,
    label: system.label,
    design: system.design,
    redis: backend.length > 0,
    raw: {},
  };
  const keep = backendPids(ctx);
  try {
    for (const scenario of ["connect", "fanout"]) {
      if (ctx.interrupted) break;
      process.stderr.write(`peers: ${system.label}: ${scenario} …\n`);
      const deployment = await system.start(ctx, scenario);
      // Fanout counts Redis's CPU apart; connect measures the system's own memory only.
      const pids = scenario === "fanout" ? [...deployment.pids, ...backend] : deployment.pids;
      const result = await bench(ctx, { label: `bench-${system.key}-${scenario}`, scenario, system, deployment, pids });
      entry.raw[scenario] = result;
      if (scenario === "connect") entry.connect = summarizeConnect(result, deployment.pids);
      else entry.fanout = summarizeFanout(result, deployment.pids, backend);
      await ctx.processes.stopAll(keep);
    }
  } catch (err) {
    entry.error = err.message;
    process.stderr.write(`peers: ${system.label}: ${err.message}\n`);
  } finally {
    await ctx.processes.stopAll(keep);
  }
  const f = entry.fanout;
  const c = entry.connect;
  if (f !== undefined || c !== undefined) {
    process.stderr.write(
      `peers: ${system.label}: CPU ${f?.cpuUsPerDelivery ?? "–"} µs/delivery, p50 ${f?.p50Ms ?? "–"} ms, p99 ${f?.p99Ms ?? "–"} ms, lost ${f?.lost ?? "–"}; RSS ${c?.rssBytesPerConnection === undefined ? "–" : (c.rssBytesPerConnection / 1024).toFixed(1)} KiB/connection\n`,
    );
  }
  return entry;
}

function writeResults(run) {
  const dir = join(peersDir, "results");
  mkdirSync(dir, { recursive: true });
  const stamp = run.startedAt.slice(0, 16).replace(":", "");
  const base = join(dir, `${stamp}${run.quick ? "-quick" : ""}`);
  const { systems, ...rest } = run;
  const json = {
    ...rest,
    systems: systems.map(({ raw, ...summary }) => summary),
    raw: Object.fromEntries(systems.map((s) => [s.key, s.raw])),
  };
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdownReport(run));
  return base;
}

async function main() {
  const o = options();
  const missing = missingPrerequisite(o.systems);
  if (missing !== undefined) fail(missing);
  const ctx = createContext(o, "peers");
  const { processes, workDir } = ctx;
  handleSignals(ctx);

  const notes = [
    `Hubcast nodes run with a config whose namespace "bench" allows client publishing, and with ${HUBCAST_BENCH_FLAGS.join(" ")}: the per-connection command rate limit and the admission control are off so that Hubcast's abuse limits do not shape the benchmark (the peers have no such limits).`,
    "Two-node systems: the publisher connects to node 1 and the subscribers alternate between the nodes, so half of them are reached only through Redis (or NATS); CPU is the sum of both nodes. Cluster mode counts the primary and both workers.",
    "Every server pings its clients every 25 s (Hubcast, Socket.IO defaults; the ws servers likewise).",
  ];
  const startedAt = new Date().toISOString();
  process.stderr.write(
    `peers: ${o.systems.length} systems, ${o.connections.toLocaleString("en-US")} connections, fanout ${o.rate}/s × ${o.payloadBytes} B for ${o.durationS} s; logs in ${workDir}\n`,
  );
  process.stderr.write(`peers: note: ${notes[0]}\n`);
  const entries = [];
  try {
    await startBackends(ctx, o.systems);
    for (const system of o.systems) {
      if (ctx.interrupted) break;
      entries.push(await runSystem(ctx, system));
    }
  } finally {
    await processes.stopAll();
  }
  const first = entries.flatMap((e) => Object.values(e.raw))[0];
  if (first === undefined) fail(`no scenario finished; the logs are in ${workDir}`);
  const run = {
    startedAt,
    finishedAt: new Date().toISOString(),
    quick: o.quick,
    interrupted: ctx.interrupted,
    machine: first.machine,
    versions: versions(),
    options: {
      connections: o.connections,
      rate: o.rate,
      payloadBytes: o.payloadBytes,
      durationS: o.durationS,
      warmupS: o.warmupS,
      connectHoldS: o.connectHoldS,
    },
    notes,
    systems: entries,
  };
  const base = writeResults(run);
  process.stdout.write(
    `\n${textTable(entries)}\n\n× = this system ÷ Hubcast one node. CPU: the system's own processes (Redis or NATS apart), per delivery. p99: corrected for coordinated omission. RSS: per idle subscribed connection.\n${notes.map((n) => `note: ${n}`).join("\n")}\n`,
  );
  process.stderr.write(`peers: wrote ${relative(process.cwd(), base)}.json and .md\n`);
  if (!entries.some((e) => e.error !== undefined)) rmSync(workDir, { recursive: true, force: true });
  else process.stderr.write(`peers: logs kept in ${workDir}\n`);
  process.exitCode = ctx.interrupted ? 130 : entries.some((e) => e.error !== undefined) ? 1 : 0;
}

main().catch((err) => fail(err?.stack ?? String(err)));
