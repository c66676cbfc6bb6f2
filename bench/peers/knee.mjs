#!/usr/bin/env node
/**
 * `npm run knee`: every system's throughput knee in one sweep. For each system of the peer
 * run, and for Hubcast scaled out on Redis (1, 2, 3 nodes; 3 nodes on a Redis Cluster), runs
 * `hubcast bench fanout` at a publication rate that climbs a geometric ladder until a step is
 * no longer sustained (p99 past the bound, or any delivery missed, duplicated or out of
 * order), bisects between the last good and the first bad step, and reports the highest
 * sustained step. Writes results/<date>-knee.json and .md and stops every process it started
 * (also on error and on Ctrl-C). See README.md.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { backendPids, backendPidsOf, startBackends } from "./lib/backends.mjs";
import {
  createContext,
  fail as failWith,
  handleSignals,
  missingPrerequisite,
  onlyKeys,
  openFilesLimit,
  parseFlags,
  peersDir,
  runHubcastBench,
  versions,
} from "./lib/environment.mjs";
import { failureText, kneeHtmlReport, kneeMarkdownReport, kneeTextTable, SCALE_OUT_KEYS } from "./lib/knee-report.mjs";
import { failedStepRecord, latencyOnly, stepRecord } from "./lib/knee-step.mjs";
import { checkLadderOptions, findKnee, roundRate } from "./lib/ladder.mjs";
import { HUBCAST_BENCH_FLAGS, SCALE_OUT_SYSTEMS, SYSTEMS } from "./lib/systems.mjs";

/** The peer run's systems, then Hubcast scaled out on Redis in node order (hubcast-redis-2 moves there). */
const ALL_SYSTEMS = [
  ...SYSTEMS.filter((s) => s.key !== "hubcast-redis-2"),
  ...[...SCALE_OUT_SYSTEMS, ...SYSTEMS.filter((s) => s.key === "hubcast-redis-2")].sort(
    (a, b) => SCALE_OUT_KEYS.indexOf(a.key) - SCALE_OUT_KEYS.indexOf(b.key),
  ),
];
/** The first step's deliveries/s when --start-rate is not given: 2 publications/s to 10,000 subscribers. */
const START_DELIVERIES_PER_S = 20_000;
/** Open files a server needs beyond one per connection (listeners, Redis, logs). */
const OPEN_FILES_MARGIN = 200;

/** `text` folded at spaces to lines of at most 96 columns, each starting with `indent`. */
function fold(text, indent) {
  const lines = [];
  let line = indent;
  for (const word of text.split(" ")) {
    if (line.length + word.length + 1 > 96 && line.trim() !== "") {
      lines.push(line.trimEnd());
      line = indent;
    }
    line += `${word} `;
  }
  lines.push(line.trimEnd());
  return lines.join("\n");
}

const USAGE = `Usage: npm run knee [-- options]   (node knee.mjs [options])

Finds each system's throughput knee: the highest publication rate it sustains to --connections
subscribers on one channel. For each system in turn, on fresh servers, hubcast bench fanout runs
steps at a rate that grows ×--factor per step until a step fails (p99 latency above --p99-bound,
or any delivery lost, duplicated or out of order, a publish error, a failed or dropped
connection, a publisher that fell behind; a step that fails on p99 alone gets a second try on
fresh servers, which counts), then --refine steps bisect between the last sustained and the
first failed rate. Reports per system the highest sustained step: deliveries/s,
deliveries/s per core of server CPU (and with Redis's CPU counted too), p50/p99, and the step
that failed and why; sorted by deliveries/s.

Systems, in the order swept:
${fold(ALL_SYSTEMS.map((s) => s.key).join(", "), "  ")}
The last four are Hubcast scaled out on Redis: 1, 2, 3 nodes on one redis-server and 3 nodes on
a Redis Cluster of three masters (started here, on free loopback ports). On every multi-node
system the publishers connect to node 1 and the subscribers alternate over every node.

Options:
  --connections N      subscribers (default 10000)
  --p99-bound MS       a step whose p99 latency passes this fails (default 250)
  --start-rate R       publications/s of the first step (default: 20,000 deliveries/s ÷ N, so 2 at 10000)
  --factor F           rate ratio between ladder steps (default 1.4)
  --max-steps N        ladder steps per system at most, bisection aside (default 12)
  --refine N           bisection steps between the last sustained and the first failed rate (default 2)
  --step-duration S    measured seconds per step (default 10)
  --warmup S           seconds of publishing before each step's measured window (default 2)
  --ramp-rate N        connections/s as each step connects its subscribers (default 1000)
  --payload-bytes N    size of each publication's data (default 64)
  --only KEY[,KEY…]    sweep only these systems (default: all, in the order above)
  --out DIR            where <date>-knee.json, .md and .html go (default: results/ in bench/peers)
  --label WORD         names the run in its title and file names (<date>-knee-WORD), e.g. smoke
  --verbose            show hubcast bench's progress lines
  -h, --help           show this help

A step takes about --warmup + --step-duration + N ÷ --ramp-rate + 4 s (25 s at the defaults);
a system needs 5 to 10 steps. The full sweep (all ${ALL_SYSTEMS.length} systems, 10,000 subscribers) takes
about an hour on a 2-core machine. Needs: npm run build at the repository root; npm install in
bench/peers (Socket.IO and ws systems); redis-server and redis-cli (Redis systems);
nats-server (hubcast-nats-2); an open-files limit (ulimit -n) above N + ${OPEN_FILES_MARGIN}.`;

const fail = (message, code = 1) => failWith("knee", message, code);

function number(values, flag, fallback) {
  const text = values[flag];
  return text === undefined ? fallback : Number(text.replace(/_/g, ""));
}

function options(argv) {
  const values = parseFlags(
    "knee",
    USAGE,
    {
      connections: { type: "string" },
      "p99-bound": { type: "string" },
      "start-rate": { type: "string" },
      factor: { type: "string" },
      "max-steps": { type: "string" },
      refine: { type: "string" },
      "step-duration": { type: "string" },
      warmup: { type: "string" },
      "ramp-rate": { type: "string" },
      "payload-bytes": { type: "string" },
      only: { type: "string" },
      out: { type: "string" },
      label: { type: "string" },
      verbose: { type: "boolean" },
    },
    argv,
  );
  const connections = number(values, "connections", 10_000);
  if (!Number.isInteger(connections) || connections < 1)
    fail(`--connections must be a positive integer, got ${values.connections}`, 2);
  const o = {
    connections,
    p99BoundMs: number(values, "p99-bound", 250),
    startRate: number(values, "start-rate", roundRate(START_DELIVERIES_PER_S / connections)),
    factor: number(values, "factor", 1.4),
    maxSteps: number(values, "max-steps", 12),
    refineSteps: number(values, "refine", 2),
    stepDurationS: number(values, "step-duration", 10),
    warmupS: number(values, "warmup", 2),
    rampRate: number(values, "ramp-rate", 1000),
    payloadBytes: number(values, "payload-bytes", 64),
    out: resolve(values.out ?? join(peersDir, "results")),
    label: values.label,
    verbose: values.verbose === true,
  };
  try {
    checkLadderOptions(o);
  } catch (err) {
    fail(err.message, 2);
  }
  if (!(o.p99BoundMs > 0)) fail(`--p99-bound must be a positive number of ms, got ${values["p99-bound"]}`, 2);
  if (!(o.stepDurationS > 0))
    fail(`--step-duration must be a positive number of seconds, got ${values["step-duration"]}`, 2);
  if (!(o.warmupS >= 0)) fail(`--warmup must be a number of seconds ≥ 0, got ${values.warmup}`, 2);
  if (o.label !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(o.label))
    fail(`--label must be 1–32 of A-Z a-z 0-9 _ - (it goes into file names), got "${o.label}"`, 2);
  if (!(o.rampRate > 0)) fail(`--ramp-rate must be a positive number, got ${values["ramp-rate"]}`, 2);
  const only = onlyKeys("knee", values.only, ALL_SYSTEMS);
  o.systems = ALL_SYSTEMS.filter((s) => only === undefined || only.includes(s.key));
  return o;
}

/** The bench arguments of one step at `rate` publications/s. */
function stepArgs(o, rate) {
  return [
    "--rate",
    String(rate),
    "--payload-bytes",
    String(o.payloadBytes),
    "--duration",
    String(o.stepDurationS),
    "--warmup",
    String(o.warmupS),
    "--ramp-rate",
    String(o.rampRate),
  ];
}

/**
 * How the bench reaches a deployment. Several nodes: cross-node with node 1 named first, so
 * every publisher connects to node 1 (at any rate) and the subscribers alternate over every
 * node; one node: fanout.
 */
function benchTarget(deployment) {
  const [first] = deployment.urls;
  return deployment.urls.length > 1
    ? { scenario: "cross-node", urls: [first, ...deployment.urls] }
    : { scenario: "fanout", urls: deployment.urls };
}

const grouped = (n) => Math.round(n).toLocaleString("en-US");

function progress(system, n, step) {
  const figures =
    step.deliveriesPerS === undefined
      ? ""
      : ` → ${grouped(step.deliveriesPerS)} deliveries/s, server CPU ${step.serverCpuPercent ?? "–"}%, p50 ${step.p50Ms.toFixed(1)} ms, p99 ${step.p99Ms.toFixed(0)} ms`;
  const verdict = step.interrupted
    ? "interrupted"
    : step.pass
      ? "sustained"
      : `${step.stopped ? "not run" : "failed"}: ${step.reasons.join(", ")}`;
  process.stderr.write(`knee: ${system.label}: step ${n} (${step.phase}) ${step.rate}/s${figures}: ${verdict}\n`);
}

/** A raw bench result as kept in the JSON: everything but the percentile curve. */
function rawStep(rate, result) {
  const { curve: _curve, ...latency } = result.latency;
  return { rate, result: { ...result, latency } };
}

/**
 * One step at `rate` on the deployment (started first when there is none): its record, with
 * the deployment it ran on. A system that does not start, and Ctrl-C, end the search
 * (`stopped`); a bench that reports nothing fails the step.
 */
async function runStep(ctx, { system, rate, label, backend, entry, deployment }) {
  const o = ctx.options;
  try {
    deployment ??= await system.start(ctx, `knee${++entry.starts}`);
  } catch (err) {
    return { ...failedStepRecord(rate, `did not start: ${err.message}`), stopped: true };
  }
  let step;
  try {
    const { scenario, urls } = benchTarget(deployment);
    const result = await runHubcastBench(ctx, {
      label,
      scenario,
      system,
      urls,
      pids: [...deployment.pids, ...backend],
      connections: o.connections,
      args: stepArgs(o, rate),
    });
    entry.raw.push(rawStep(rate, result));
    entry.machine ??= result.machine;
    step = stepRecord(result, { rate, p99BoundMs: o.p99BoundMs, pids: deployment.pids, backendPids: backend });
  } catch (err) {
    step = failedStepRecord(rate, err.message);
  }
  if (ctx.interrupted) Object.assign(step, { interrupted: true, stopped: true });
  return { ...step, deployment };
}

/** Sweeps one system: the ladder on its deployment, restarted after every failed step; stops it at the end. */
async function sweepSystem(ctx, system) {
  const o = ctx.options;
  const backend = backendPidsOf(ctx, system);
  const keep = backendPids(ctx);
  const entry = {
    key: system.key,
    label: system.label,
    design: system.design,
    redis: backend.length > 0,
    raw: [],
    starts: 0,
  };
  let deployment;
  let n = 0;
  const attempt = async (rate, phase) => {
    n++;
    const step = await runStep(ctx, { system, rate, label: `bench-${system.key}-${n}`, backend, entry, deployment });
    deployment = step.deployment;
    delete step.deployment;
    progress(system, n, { ...step, phase });
    if (!step.pass) {
      // A server past its knee may hold backlog and memory: the next step starts on fresh ones.
      await ctx.processes.stopAll(keep);
      deployment = undefined;
    }
    return step;
  };
  const tryRate = async (rate, phase) => {
    const first = await attempt(rate, phase);
    if (first.pass || !latencyOnly(first) || ctx.interrupted) return first;
    // Every delivery made, only p99 past the bound: on a machine shared with the load generator
    // one stall can do that below the knee, and end the ladder there. The rate gets a second
    // try on fresh servers, and that one counts; lost or late deliveries never get one.
    const second = await attempt(rate, `${phase}, second try`);
    return { ...second, firstTry: { p99Ms: first.p99Ms, reasons: first.reasons } };
  };
  try {
    const found = await findKnee(o, tryRate, () => ctx.interrupted);
    Object.assign(entry, found);
  } catch (err) {
    entry.error = err.message;
    entry.steps ??= [];
  } finally {
    await ctx.processes.stopAll(keep);
  }
  // A system that did not start, or whose every step ended without a bench report, is an error of the run.
  const last = entry.steps.at(-1);
  if (last?.stopped && last.error !== undefined) entry.error = last.error;
  else if (entry.knee === undefined && entry.steps.some((s) => s.error !== undefined))
    entry.error = entry.steps.find((s) => s.error !== undefined).error;
  process.stderr.write(`knee: ${system.label}: ${summaryLine(entry)}\n`);
  return entry;
}

function summaryLine(entry) {
  const k = entry.knee;
  const knee =
    k === undefined
      ? "no sustained step"
      : `knee ${k.rate}/s = ${grouped(k.deliveriesPerS)} deliveries/s (${k.deliveriesPerSPerCore === undefined ? "–" : grouped(k.deliveriesPerSPerCore)} per core of server CPU), p99 ${k.p99Ms.toFixed(0)} ms`;
  return `${knee}; first failing step: ${failureText(entry)}`;
}

function writeResults(run, dir) {
  mkdirSync(dir, { recursive: true });
  const stamp = run.startedAt.slice(0, 16).replace(":", "");
  const base = join(dir, `${stamp}-knee${run.label === undefined ? "" : `-${run.label}`}`);
  const json = {
    ...run,
    systems: run.systems.map(({ raw, machine, starts, ...summary }) => summary),
    raw: Object.fromEntries(run.systems.map((s) => [s.key, s.raw])),
  };
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(`${base}.md`, kneeMarkdownReport(run));
  writeFileSync(`${base}.html`, kneeHtmlReport(run));
  return base;
}

async function main() {
  const argv = process.argv.slice(2);
  const o = options(argv);
  const missing = missingPrerequisite(o.systems);
  if (missing !== undefined) fail(missing);
  const limit = openFilesLimit();
  if (limit !== undefined && limit < o.connections + OPEN_FILES_MARGIN)
    fail(
      `the open-files limit (ulimit -n) is ${limit}, too low for ${o.connections} connections on one server; raise it or lower --connections`,
    );
  const ctx = createContext(o, "knee");
  handleSignals(ctx);
  const notes = [
    `Hubcast nodes run with a config whose namespace "bench" allows client publishing, and with ${HUBCAST_BENCH_FLAGS.join(" ")}: the per-connection command rate limit and the admission control are off so that Hubcast's abuse limits do not shape the benchmark (the peers have no such limits).`,
    "Multi-node systems: every publisher connects to node 1 and the subscribers alternate over every node (hubcast bench cross-node with node 1 named first); CPU is the sum of the nodes. Cluster mode counts the primary and both workers.",
    "Each step connects its subscribers anew; the servers stay up from one sustained step to the next and are restarted after a failed one.",
  ];
  const startedAt = new Date().toISOString();
  process.stderr.write(
    `knee: ${o.systems.length} systems, ${o.connections.toLocaleString("en-US")} subscribers, from ${o.startRate}/s ×${o.factor} per step, ${o.warmupS} s + ${o.stepDurationS} s per step, p99 bound ${o.p99BoundMs} ms; logs in ${ctx.workDir}\n`,
  );
  const entries = [];
  try {
    await startBackends(ctx, o.systems);
    for (const system of o.systems) {
      if (ctx.interrupted) break;
      entries.push(await sweepSystem(ctx, system));
    }
  } catch (err) {
    process.stderr.write(`knee: ${err.message}\n`);
    process.exitCode = 1;
  } finally {
    await ctx.processes.stopAll();
  }
  const run = {
    startedAt,
    finishedAt: new Date().toISOString(),
    interrupted: ctx.interrupted,
    label: o.label,
    argv,
    machine: entries.find((e) => e.machine !== undefined)?.machine,
    versions: versions(),
    options: {
      connections: o.connections,
      p99BoundMs: o.p99BoundMs,
      startRate: o.startRate,
      factor: o.factor,
      maxSteps: o.maxSteps,
      refineSteps: o.refineSteps,
      stepDurationS: o.stepDurationS,
      warmupS: o.warmupS,
      rampRate: o.rampRate,
      payloadBytes: o.payloadBytes,
    },
    notes,
    systems: entries,
  };
  const base = writeResults(run, o.out);
  process.stdout.write(
    `\n${kneeTextTable(entries)}\n\nknee: the highest sustained step (≥: none failed). Per core: deliveries/s ÷ the server's CPU in cores. p99: corrected for coordinated omission. * bench processes near a full core.\n`,
  );
  process.stderr.write(`knee: wrote ${relative(process.cwd(), base)}.json and .md\n`);
  const failed = entries.some((e) => e.error !== undefined);
  if (!failed && process.exitCode !== 1) rmSync(ctx.workDir, { recursive: true, force: true });
  else process.stderr.write(`knee: logs kept in ${ctx.workDir}\n`);
  if (ctx.interrupted) process.exitCode = 130;
  else if (failed) process.exitCode = 1;
}

main().catch((err) => fail(err?.stack ?? String(err)));
