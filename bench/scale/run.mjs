#!/usr/bin/env node
/**
 * Holds many connections on this machine, server and load generator together, inside one time
 * budget: checks the prerequisites, starts the server (W nodes on a local Redis, or `hubcast
 * start --workers W`), runs `hubcast bench fanout`, samples every process, stops everything
 * (the server drains) and writes the report.
 * See README.md beside this file and `--help`.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bindableLoopback, busyPercent, readMachine, writeFloor } from "./lib/machine.mjs";
import { HELP, UsageError, parseOptions } from "./lib/options.mjs";
import { makePlan } from "./lib/plan.mjs";
import { GroupProcess, groupMembers } from "./lib/processes.mjs";
import { commandExists, startServers } from "./lib/servers.mjs";
import { RunSampler } from "./lib/sampler.mjs";
import { markdownSummary, scaleRecord, verdictReasons } from "./lib/summary.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CLI = join(REPO, "packages/server/dist/cli/main.js");
const BENCH_BUILD = join(REPO, "packages/bench/dist/index.js");

/**
 * The server's liveness settings, chosen for a machine whose two cores also run every client:
 * starved clients answer pings and send `connect` late, and each ping costs CPU the deliveries
 * need. With the defaults (25 s pings, 10 s pong and connect timeouts) the 100,000-connection
 * run lost 10,511 connections to 3002/3004 closes (docs/performance.md).
 */
const LIVENESS = { pingIntervalMs: 120_000, pongTimeoutMs: 60_000, connectTimeoutMs: 120_000, idleTimeoutMs: 0 };
/** The server's config: the bench namespace, where clients may publish. */
const SERVER_CONFIG = { demo: false, namespaces: { bench: { allowPublish: true } } };
/** The phase in the bench's progress line (`fanout measure 12s | conns …`). */
const BENCH_PHASE = /^\S+ (ramp|settle|warmup|measure|drain|stopped) \d/;
/** The bench's phases once its ramp is over, with every connection open. */
const PAST_RAMP = new Set(["settle", "warmup", "measure"]);
/** How often the processes and the machine are sampled (reading every descriptor table costs CPU the run needs). */
const SAMPLE_INTERVAL_MS = 15_000;

const fmt = (n) => Math.round(n).toLocaleString("en-US");
const say = (line) => process.stderr.write(`scale: ${line}\n`);
const ticksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** bench/results/<date>-<N>-scale, or with -2, -3 … when it exists. */
function defaultOut(connections) {
  const base = join(REPO, "bench/results", `${new Date().toISOString().slice(0, 10)}-${connections}-scale`);
  for (let n = 1; ; n++) if (!existsSync(n === 1 ? base : `${base}-${n}`)) return n === 1 ? base : `${base}-${n}`;
}

async function planRun(o) {
  const machine = readMachine();
  const extra = { floor: writeFloor(REPO), busyPercent: await busyPercent(1000) };
  const missing = [CLI, BENCH_BUILD].find((f) => !existsSync(f));
  if (missing !== undefined) extra.missingBuild = missing.slice(REPO.length + 1);
  if (o.topology === "nodes" && !commandExists("redis-server")) extra.missingRedis = true;
  const first = makePlan(o, machine, extra);
  extra.unbindable = await bindableLoopback(Math.min(254, first.sourceAddresses));
  return { machine, plan: makePlan(o, machine, extra) };
}

function printPlan(plan) {
  for (const c of plan.checks)
    say(
      `${c.level === "ok" ? "ok  " : c.level.padEnd(4)} ${c.name}: ${c.value}; needs ${c.need}${c.fix ? ` (fix: ${c.fix})` : ""}`,
    );
  const l = plan.load;
  say(
    `plan: ${plan.workers} server ${plan.topology === "nodes" ? "nodes on one redis-server" : "workers"}, ${plan.processes} bench processes, ${plan.sourceAddresses} source address${plan.sourceAddresses === 1 ? " (unbound: connect() picks ports per destination)" : "es"}; ${fmt(plan.connections)} subscribers + ${plan.publishers} publishers; ${l.rate.toFixed(3)} publications/s over ${plan.publishers} channels = ${fmt(l.deliveriesPerS)} deliveries/s, ${(l.share * 100).toFixed(0)} % of the cores at the floor (${l.floor.serverUsPerWrite.toFixed(2)} µs per server write + ${l.floor.clientUsPerWrite.toFixed(2)} µs per client read, ${l.floor.source}); about ${fmt(plan.time.totalS)} s in all`,
  );
  if (l.share > 1)
    say(
      `warning: the floor alone needs ${(l.share * 100).toFixed(0)} % of the machine: deliveries will fall behind the broadcasts; a broadcast every ${l.sustainableIntervalS.toFixed(1)} s or more fits`,
    );
}

/** Runs the server and the bench; resolves with what the report needs. `stop` ends it early. */
async function execute(o, plan, out, control) {
  const t0 = Date.now();
  const sinceS = () => (Date.now() - t0) / 1000;
  const phases = [];
  const phase = (name) => {
    if (phases.length > 0) phases.at(-1).toS = sinceS();
    phases.push({ name, fromS: sinceS(), toS: undefined });
  };
  const configFile = join(out, "server-config.json");
  writeFileSync(configFile, `${JSON.stringify(SERVER_CONFIG, null, 2)}\n`);
  const commonArgs = [
    ...["--config", configFile, "--host", "127.0.0.1", "--port", "0", "--log-format", "json"],
    ...["--ping-interval-ms", String(LIVENESS.pingIntervalMs), "--pong-timeout-ms", String(LIVENESS.pongTimeoutMs)],
    ...["--connect-timeout-ms", String(LIVENESS.connectTimeoutMs), "--idle-timeout-ms", String(LIVENESS.idleTimeoutMs)],
    ...["--command-rate-per-second", "0", "--max-connections-per-second", "0"],
    ...["--drain-window-ms", String(o.drainWindowMs)],
  ];
  const run = { server: { topology: o.topology, liveness: LIVENESS }, bench: {}, phases };
  phase("server start");
  say(`starting ${o.topology === "nodes" ? `redis-server and ${plan.workers} nodes` : "the server"}`);
  const servers = await startServers({
    topology: o.topology,
    workers: plan.workers,
    balancing: o.balancing,
    commonArgs,
    cli: CLI,
    out,
    control,
  });
  for (const command of servers.commands) say(`started ${command}`);
  run.server.command = servers.commands.join("; ");
  run.server.pid = servers.processes[0]?.pid;
  run.server.pids = servers.processes.map((p) => p.pid);
  run.server.redisPid = servers.redis?.pid;
  const { roles } = servers;
  const sampler = new RunSampler({
    roles,
    metricsUrls: servers.error === undefined ? servers.metricsUrls : [],
    intervalMs: SAMPLE_INTERVAL_MS,
    startedAtMs: t0,
    onSample: (s) => say(progressLine(s, o.topology === "nodes" ? "nodes" : "workers")),
  });
  run.sampler = sampler;
  let bench;
  if (servers.error === undefined) {
    run.server.url = servers.urls[0];
    run.server.urls = servers.urls;
    run.server.readyAfterS = sinceS();
    say(`server ready at ${servers.urls.join(", ")} after ${run.server.readyAfterS.toFixed(1)} s`);
    await sampler.sample("server ready");
    sampler.start();
    bench = await runBench(o, plan, out, servers.urls, { control, run, roles, phase });
  } else {
    run.stoppedBy = servers.error;
    say(servers.error);
  }
  phase("shutdown");
  await sampler.sample("before shutdown");
  sampler.stop();
  const drainStart = Date.now();
  say("stopping the server (SIGTERM: it drains)");
  run.server.exit = await servers.stop(o.drainWindowMs + 15_000);
  run.server.drainS = (Date.now() - drainStart) / 1000;
  if (bench !== undefined) await bench.stop("SIGINT", 15_000);
  phases.at(-1).toS = sinceS();
  run.leftover = groupMembers([...roles.keys(), ...(bench === undefined ? [] : [bench.pid])]).map((p) => p.pid);
  return run;
}

/** Runs `hubcast bench fanout` to its end (or to the budget, or a Ctrl-C) and reads its result. */
async function runBench(o, plan, out, serverUrls, { control, run, roles, phase }) {
  const args = [
    "bench",
    "fanout",
    ...serverUrls.flatMap((url) => ["--url", `${url.replace(/^http/, "ws")}/ws`]),
    ...["--connections", String(o.connections)],
    ...["--channels", String(o.channels), "--publishers", String(o.channels), "--rate", String(plan.load.rate)],
    ...["--payload-bytes", String(o.payloadBytes), "--warmup", String(o.warmup), "--duration", String(o.duration)],
    ...["--processes", String(plan.processes), "--source-addresses", String(plan.sourceAddresses)],
    ...["--ramp-rate", String(o.rampRate), "--out", out],
  ];
  run.bench.command = `hubcast ${args.join(" ")}`;
  phase("bench start");
  say(`starting ${run.bench.command}`);
  const stdout = [];
  let benchPhase;
  let connectedRead = false;
  const bench = new GroupProcess({
    label: "bench",
    command: process.execPath,
    args: [CLI, ...args],
    logFile: join(out, "bench.log"),
    onLine: (line, stream) => {
      if (stream === "stdout") return void stdout.push(line);
      process.stderr.write(`bench: ${line}\n`);
      // The bench's progress line names its phase: the run's phases follow it, and the
      // processes are read once every connection is open (the first line past the ramp: a
      // second-long settle can fall between two progress lines) and before they close (drain).
      const name = BENCH_PHASE.exec(line)?.[1];
      if (name === undefined || name === benchPhase) return;
      benchPhase = name;
      phase(`bench ${name}`);
      if (!connectedRead && PAST_RAMP.has(name)) {
        connectedRead = true;
        void run.sampler.sample("connected");
      }
      if (name === "drain") void run.sampler.sample("measured");
    },
  });
  control.processes.push(bench);
  run.bench.pid = bench.pid;
  roles.set(bench.pid, { leader: "bench coordinator", member: "bench process" });
  // At the budget, the bench is told to stop (it still reports what ran); shutting down fits in what is left.
  const budgetTimer = setTimeout(
    () => control.stop(`the time budget: the load stops ${fmt(plan.time.stopLoadAtS)} s into the run`),
    Math.max(0, plan.time.stopLoadAtS * 1000 - (Date.now() - control.startedAtMs)),
  );
  budgetTimer.unref();
  let killTimer;
  control.stopped.then((reason) => {
    run.stoppedBy ??= reason;
    bench.signal("SIGINT");
    // A bench that does not wrap up after its Ctrl-C is killed, so the shutdown still fits.
    killTimer = setTimeout(() => bench.kill(), 30_000);
  });
  run.bench.exitCode = await bench.exited;
  clearTimeout(budgetTimer);
  clearTimeout(killTimer);
  writeFileSync(join(out, "bench-summary.txt"), `${stdout.join("\n")}\n`);
  try {
    run.bench.result = JSON.parse(readFileSync(join(out, "result.json"), "utf8"));
  } catch {
    run.bench.result = undefined;
  }
  return bench;
}

/** One progress line from a sampler reading; `unit` names the server processes (workers, nodes). */
function progressLine(s, unit) {
  const by = (prefix) => s.processes.filter((p) => p.role.startsWith(prefix));
  const part = (prefix) => {
    const ps = by(prefix);
    const fds = Math.max(0, ...ps.map((p) => p.fds ?? 0));
    const rss = ps.reduce((a, p) => a + (p.rssBytes ?? 0), 0);
    return `${prefix} ${ps.length} processes, ≤ ${fmt(fds)} open files each, RSS ${fmt(rss / 2 ** 20)} MiB`;
  };
  const m = s.metrics;
  const metrics =
    m === undefined
      ? ""
      : m.error !== undefined
        ? `; /metrics: ${m.error}`
        : `; /metrics: ${fmt(m.connections ?? 0)} connections, ${m.workersReporting}/${m.workers} ${unit}`;
  return `${s.tS.toFixed(0)} s (${s.label}): ${part("server")}; ${part("bench")}${metrics}; MemAvailable ${fmt(s.machine.memAvailableBytes / 2 ** 20)} MiB, TCP ${fmt(s.machine.tcpInUse)} sockets`;
}

/** Stop requests (Ctrl-C, SIGTERM, the budget) and the processes to kill if this process exits anyway. */
function makeControl() {
  let stop;
  const control = {
    startedAtMs: Date.now(),
    processes: [],
    reason: undefined,
    stopped: new Promise((resolveStop) => {
      stop = resolveStop;
    }),
    stop(reason) {
      if (control.reason !== undefined) return;
      control.reason = reason;
      say(`stopping: ${reason}`);
      stop(reason);
    },
  };
  let signals = 0;
  const onSignal = (signal) => {
    signals += 1;
    if (signals === 1) {
      control.interrupted = true;
      control.stop(`${signal}; stopping everything (again to kill at once)`);
      return;
    }
    for (const p of control.processes) p.kill();
    process.exit(130);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => onSignal(signal));
  // Whatever happens, nothing this run started outlives it.
  process.on("exit", () => {
    for (const p of control.processes) if (p.running || groupMembers([p.pid]).length > 0) p.kill();
  });
  return control;
}

async function main(argv) {
  let parsed;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench/scale: ${err.message}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const o = parsed.options;
  const command = `node bench/scale/run.mjs ${argv.join(" ")}`.trim();
  const startedAt = new Date().toISOString();
  const { machine, plan } = await planRun(o);
  printPlan(plan);
  if (plan.failed.length > 0) {
    say(`cannot run: ${plan.failed.map((c) => `${c.name} (${c.fix})`).join("; ")}`);
    return 2;
  }
  if (o.check) return 0;
  const out = resolve(o.out ?? defaultOut(o.connections));
  mkdirSync(out, { recursive: true });
  const control = makeControl();
  let run;
  try {
    run = await execute(o, plan, out, control);
  } finally {
    for (const p of control.processes) await p.stop("SIGKILL", 0);
  }
  run.stoppedBy ??= control.reason;
  const record = scaleRecord({
    ...run,
    startedAt,
    finishedAt: new Date().toISOString(),
    command,
    options: o,
    plan,
    machine,
    samples: run.sampler.samples,
    limits: run.sampler.limits,
    ticksPerSecond,
    reasons: verdictReasons(run),
  });
  writeFileSync(join(out, "scale.json"), `${JSON.stringify(record, null, 2)}\n`);
  writeFileSync(join(out, "summary.md"), markdownSummary(record));
  say(
    record.ok ? "held: every connection, every delivery once and in order" : `not held: ${record.reasons.join("; ")}`,
  );
  say(`wrote ${join(out, "summary.md")}, scale.json, result.json and report.html`);
  return control.interrupted ? 130 : record.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench/scale: ${err.stack ?? err}\n`);
    process.exit(1);
  },
);
