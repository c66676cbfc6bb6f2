#!/usr/bin/env node
/**
 * `npm run peers`: the peer benchmark. Starts each system in turn on loopback (Hubcast one
 * node over WebSocket, HTTP-streaming, SSE and the Pusher protocol, two nodes on Redis, cluster mode; Socket.IO one node and two nodes with its Redis
 * adapter; plain ws + Redis; ws with the frame built once), runs the same fanout and connect
 * scenarios against each with `hubcast bench --json`, prints a table with ratios relative to
 * Hubcast one node, writes results/<date>.json and .md, and stops every process it started
 * (also on Ctrl-C). See README.md.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Processes, freePort } from "./lib/processes.mjs";
import { markdownReport, summarizeConnect, summarizeFanout, textTable } from "./lib/report.mjs";
import { HUBCAST_BENCH_CONFIG, HUBCAST_BENCH_FLAGS, SYSTEMS } from "./lib/systems.mjs";

const peersDir = dirname(fileURLToPath(import.meta.url));
const repo = join(peersDir, "..", "..");
const benchCli = join(repo, "packages/bench/dist/cli/main.js");
const serverCli = join(repo, "packages/server/dist/cli/main.js");

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
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: "boolean" },
        connections: { type: "string" },
        duration: { type: "string" },
        only: { type: "string" },
        verbose: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (err) {
    fail(`${err.message}\n\n${USAGE}`, 2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const quick = values.quick === true;
  const connections = Number((values.connections ?? (quick ? "2000" : "10000")).replace(/_/g, ""));
  const durationS = Number(values.duration ?? (quick ? "10" : "20"));
  if (!Number.isInteger(connections) || connections < 1)
    fail(`--connections must be a positive integer, got ${values.connections}`, 2);
  if (!(durationS > 0)) fail(`--duration must be a positive number of seconds, got ${values.duration}`, 2);
  const only = values.only
    ?.split(",")
    .map((k) => k.trim())
    .filter((k) => k !== "");
  const unknown = only?.find((k) => !SYSTEMS.some((s) => s.key === k));
  if (unknown !== undefined)
    fail(`--only: unknown system "${unknown}"; use ${SYSTEMS.map((s) => s.key).join(", ")}`, 2);
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

function fail(message, code = 1) {
  process.stderr.write(`peers: ${message}\n`);
  process.exit(code);
}

function checkPrerequisites() {
  for (const [file, fix] of [
    [benchCli, "run `npm run build` at the repository root"],
    [serverCli, "run `npm run build` at the repository root"],
    [join(peersDir, "node_modules/socket.io/package.json"), "run `npm install` in bench/peers"],
  ]) {
    if (!existsSync(file)) fail(`${relative(repo, file)} is missing: ${fix}`);
  }
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
  } catch {
    fail(
      "redis-server is not on PATH: install Redis (apt-get install redis-server) for the Redis-backed systems, or pass --only with systems that need none",
    );
  }
}

const packageVersion = (dir) => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;

function versions() {
  const dep = (name) => packageVersion(join(peersDir, "node_modules", name));
  const redis = /v=(\S+)/.exec(execFileSync("redis-server", ["--version"], { encoding: "utf8" }))?.[1] ?? "?";
  return {
    hubcast: `${packageVersion(join(repo, "packages/server"))} (${hubcastCommit()})`,
    "socket.io": dep("socket.io"),
    "@socket.io/redis-adapter": dep("@socket.io/redis-adapter"),
    redis: dep("redis"),
    ws: dep("ws"),
    "redis-server": redis,
    node: process.version,
  };
}

/** The commit Hubcast was built from, marked "+ local changes" when packages/ differs from it (read-only git). */
function hubcastCommit() {
  try {
    const head = execFileSync("git", ["-C", repo, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty =
      execFileSync("git", ["-C", repo, "status", "--porcelain", "--", "packages/server/src", "packages/protocol/src"], {
        encoding: "utf8",
      }).trim() !== "";
    return dirty ? `${head} + local changes` : head;
  } catch {
    return "commit unknown";
  }
}

/** Runs one `hubcast bench` scenario and resolves with its parsed JSON result. */
async function bench(ctx, { label, scenario, system, deployment, pids }) {
  const o = ctx.options;
  const args = [
    benchCli,
    scenario,
    "--url",
    deployment.urls.join(","),
    "--protocol",
    system.protocol,
    "--server-pid",
    pids.join(","),
    "--connections",
    String(o.connections),
    "--json",
  ];
  if (system.transport !== undefined) args.push("--transport", system.transport);
  if (system.benchArgs !== undefined) args.push(...system.benchArgs);
  if (scenario === "fanout")
    args.push(
      "--rate",
      String(o.rate),
      "--payload-bytes",
      String(o.payloadBytes),
      "--duration",
      String(o.durationS),
      "--warmup",
      String(o.warmupS),
    );
  else args.push("--channels", "1", "--duration", String(o.connectHoldS));
  const running = ctx.processes.run({
    label,
    command: process.execPath,
    args,
    echo: o.verbose ? process.stderr : undefined,
  });
  ctx.interruptBench = running.interrupt;
  const { code, stdout, logFile } = await running.result;
  ctx.interruptBench = undefined;
  // An interrupted bench still prints what it measured, when it got that far.
  if (stdout.trim() !== "") return JSON.parse(stdout);
  if (ctx.interrupted) throw new Error("interrupted");
  const tail = readFileSync(logFile, "utf8").trim().split("\n").slice(-2).join(" / ");
  throw new Error(`hubcast bench ${scenario} exited ${code}: ${tail}`);
}

/** Runs both scenarios against one system, each on a freshly started deployment. */
async function runSystem(ctx, system) {
  // The engine's server (Redis or NATS) is counted apart, in the same column.
  const backendPid = system.redis ? ctx.redisPid : system.nats === true ? ctx.natsPid : undefined;
  const entry = {
    key: system.key,
    label: system.label,
    design: system.design,
    redis: backendPid !== undefined,
    raw: {},
  };
  const keep = [ctx.redisPid, ctx.natsPid].filter((pid) => pid !== undefined);
  try {
    for (const scenario of ["connect", "fanout"]) {
      if (ctx.interrupted) break;
      process.stderr.write(`peers: ${system.label}: ${scenario} …\n`);
      const deployment = await system.start(ctx, scenario);
      // Fanout counts Redis's CPU apart; connect measures the system's own memory only.
      const pids =
        scenario === "fanout" && backendPid !== undefined ? [...deployment.pids, backendPid] : deployment.pids;
      const result = await bench(ctx, { label: `bench-${system.key}-${scenario}`, scenario, system, deployment, pids });
      entry.raw[scenario] = result;
      if (scenario === "connect") entry.connect = summarizeConnect(result, deployment.pids);
      else entry.fanout = summarizeFanout(result, deployment.pids, backendPid);
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

async function startRedis(ctx) {
  const port = await freePort();
  const started = await ctx.processes.start({
    label: "redis",
    command: "redis-server",
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", ctx.workDir],
    ready: /Ready to accept connections/,
  });
  ctx.redisPid = started.pid;
  ctx.redisUrl = `redis://127.0.0.1:${port}`;
}

async function startNats(ctx) {
  const port = await freePort();
  const started = await ctx.processes.start({
    label: "nats",
    command: "nats-server",
    args: ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", join(ctx.workDir, "nats")],
    ready: /Server is ready/,
  });
  ctx.natsPid = started.pid;
  ctx.natsUrl = `nats://127.0.0.1:${port}`;
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
  checkPrerequisites();
  const workDir = mkdtempSync(join(tmpdir(), "hubcast-peers-"));
  const hubcastConfig = join(workDir, "hubcast-bench.json");
  writeFileSync(hubcastConfig, JSON.stringify(HUBCAST_BENCH_CONFIG));
  const processes = new Processes(workDir);
  const ctx = {
    options: o,
    processes,
    repo,
    peersDir,
    hubcastConfig,
    workDir,
    runId: Date.now().toString(36),
    redisUrl: undefined,
    redisPid: undefined,
    natsUrl: undefined,
    natsPid: undefined,
    interrupted: false,
    interruptBench: undefined,
  };
  const onSignal = (signal) => {
    if (ctx.interrupted) {
      processes.killAll();
      process.exit(130);
    }
    ctx.interrupted = true;
    process.stderr.write(
      `\npeers: ${signal}: stopping the current run and every process started (again to kill at once)\n`,
    );
    ctx.interruptBench?.();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", () => processes.killAll());

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
    if (o.systems.some((s) => s.redis)) await startRedis(ctx);
    if (o.systems.some((s) => s.nats === true)) await startNats(ctx);
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
