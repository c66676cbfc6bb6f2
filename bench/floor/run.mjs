#!/usr/bin/env node
/**
 * The platform floor: what Node.js and the kernel cost on this machine, before any server
 * logic, for the two things a fanout server does most: one `socket.write` per subscriber
 * per publication (the write floor), and holding idle connections (the memory floor).
 * Every server and client runs in its own process; this runner starts them, checks that
 * every connection was accepted and every byte delivered, prints the tables, writes
 * results/<date>.json and .md, and stops every process it started (also on Ctrl-C).
 * See README.md.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { arch, cpus, release, totalmem } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Children } from "./lib/processes.mjs";
import { CLK_TCK, cpusAllowed, diff, machineCpu, openFilesLimit, pinToCpus, sleep } from "./lib/proc.mjs";
import { FRAME_BYTES, summarizeLatency } from "./lib/stamps.mjs";
import {
  cpuAgreement,
  markdownReport,
  memoryMeans,
  summarizeMemory,
  summarizeWrite,
  textReport,
} from "./lib/report.mjs";

const floorDir = dirname(fileURLToPath(import.meta.url));
const script = (name) => join(floorDir, "lib", name);
const MEMORY_VARIANTS = ["net-paused", "net-reading", "http-upgrade", "net-upgrade", "net-exchange", "ws", "hubcast"];
/** What a connection says after its handshake in the hubcast variant (connect, then subscribe) and in net-exchange. */
const HUBCAST_MESSAGES = ['{"id":1,"connect":{}}', '{"id":2,"subscribe":{"channel":"floor:idle"}}'];
const MESSAGES_OF = {
  hubcast: { path: "/ws", messages: HUBCAST_MESSAGES },
  "net-exchange": { messages: HUBCAST_MESSAGES },
};

/** Connections opened per batch, and the pause between batches. */
const BATCH = 200;
const BATCH_DELAY_MS = 20;
/** File descriptors a process needs besides its connections (listener, IPC, stdio, epoll, …). */
const FD_MARGIN = 64;
/** The most open files any process of the run may hold. */
const FD_CEILING = 20_000;

const USAGE = `Usage: node bench/floor/run.mjs [options]

Measures the platform floor on this machine: CPU and wall time of one socket.write per
connection to N connected sockets (the write floor), and RSS per idle connection for a bare
net server, an http server with a hand-made WebSocket upgrade, a net server answering the
upgrade itself, a ws server, and a Hubcast node with every connection subscribed (the memory
floor). Every server and client runs in its own process, over loopback.

Options:
  --connections N   connections per scenario (default 10000)
  --rounds R        measured write rounds per write variant (default 200, i.e. 20 s)
  --warmup W        unmeasured write rounds before them (default 20)
  --interval MS     milliseconds between write rounds (default 100)
  --frames K        frames per socket per round in the corked variant (default 10)
  --readers N       write floor: processes reading the connections, each its share (default 1)
  --pin             write floor: the server on one CPU and the readers on the others (taskset)
  --repeat N        runs of each memory variant, each in a fresh process (default 2)
  --steps S         memory readings per run, after each N/S connections (default 4)
  --only PART       write or memory (default both)
  --variants LIST   memory variants to run, comma-separated (default all: ${MEMORY_VARIANTS.join(",")})
  --out DIR         where to write the results (default bench/floor/results)
  -h, --help        show this help

Smoke check (a few seconds): node bench/floor/run.mjs --connections 500 --rounds 5
Writes <date>.json and .md into --out (<date>-c<N>-r<R>.* when --connections or
--rounds differ from the defaults). Needs Linux (/proc) and an open-files limit of at
least N + ${FD_MARGIN} (ulimit -n); no process of the run holds more than ${int(FD_CEILING)} files.`;

function int(value) {
  return value.toLocaleString("en-US");
}

function fail(message, code = 1) {
  process.stderr.write(`floor: ${message}\n`);
  process.exit(code);
}

const progress = (message) => process.stderr.write(`floor: ${message}\n`);

function options() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        connections: { type: "string" },
        rounds: { type: "string" },
        warmup: { type: "string" },
        interval: { type: "string" },
        frames: { type: "string" },
        readers: { type: "string" },
        pin: { type: "boolean" },
        repeat: { type: "string" },
        steps: { type: "string" },
        only: { type: "string" },
        variants: { type: "string" },
        out: { type: "string" },
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
  const number = (name, fallback, min) => {
    const raw = values[name] ?? String(fallback);
    const n = Number(raw.replace(/_/g, ""));
    if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer ≥ ${min}, got ${raw}`, 2);
    return n;
  };
  const o = {
    connections: number("connections", 10_000, 2),
    rounds: number("rounds", 200, 1),
    warmup: number("warmup", 20, 0),
    intervalMs: number("interval", 100, 1),
    frames: number("frames", 10, 2),
    readers: number("readers", 1, 1),
    pin: values.pin === true,
    repeat: number("repeat", 2, 1),
    steps: number("steps", 4, 2),
    only: values.only,
    out: values.out ?? join(floorDir, "results"),
    frameBytes: FRAME_BYTES,
  };
  if (o.only !== undefined && o.only !== "write" && o.only !== "memory")
    fail(`--only must be write or memory, got ${o.only}`, 2);
  o.variants = values.variants === undefined ? MEMORY_VARIANTS : values.variants.split(",");
  const unknown = o.variants.filter((v) => !MEMORY_VARIANTS.includes(v));
  if (unknown.length > 0) fail(`--variants: unknown ${unknown.join(", ")}; known: ${MEMORY_VARIANTS.join(", ")}`, 2);
  o.custom = values.connections !== undefined || values.rounds !== undefined || values.variants !== undefined;
  return o;
}

/** Linux, /proc, and enough open files for N connections in one process. */
function checkPrerequisites(o) {
  if (process.platform !== "linux" || !existsSync("/proc/self/stat")) fail("needs Linux with /proc");
  const needed = o.connections + FD_MARGIN;
  if (needed > FD_CEILING)
    fail(
      `--connections ${int(o.connections)} needs ${int(needed)} open files in the server process; this benchmark keeps every process under ${int(FD_CEILING)}: use at most ${int(FD_CEILING - FD_MARGIN)}`,
      2,
    );
  const limit = openFilesLimit();
  // Node raises its own soft limit to the hard limit at startup, so the hard limit is what counts.
  if (limit !== undefined && limit.soft < needed) {
    fail(
      `the open-files limit is ${limit.soft} (hard ${limit.hard}) but ${int(o.connections)} connections need ${int(needed)} per process: raise it before running, e.g. \`ulimit -n ${needed}\` in this shell (as root, or after raising the hard limit: LimitNOFILE= in a systemd unit, nofile in /etc/security/limits.conf, --ulimit nofile=${needed}:${needed} for docker), or pass a smaller --connections`,
    );
  }
  if (o.pin && cpuList(cpusAllowed()).length < 2)
    fail(`--pin needs at least 2 CPUs to run on (this process may use ${cpusAllowed()})`, 2);
  if (o.pin) {
    try {
      execFileSync("taskset", ["--version"], { stdio: "ignore" });
    } catch {
      fail("--pin needs taskset (Debian: apt-get install util-linux)", 2);
    }
  }
  if (o.only !== "write" && wsVersion() === undefined)
    fail(
      "the ws variant needs ws in the repository's node_modules: run `npm install` at the repository root (or pass --only write)",
    );
  return limit;
}

function wsVersion() {
  try {
    const require = createRequire(join(floorDir, "lib", "memory-server.mjs"));
    return JSON.parse(readFileSync(require.resolve("ws/package.json"), "utf8")).version;
  } catch {
    return undefined;
  }
}

/** Whether the kernel charges softirq work to the task it interrupts (it does unless CONFIG_IRQ_TIME_ACCOUNTING=y). */
function irqTimeAccounting() {
  let config = "";
  try {
    config = readFileSync(`/boot/config-${release()}`, "utf8");
  } catch {
    try {
      config = execFileSync("sh", ["-c", "zcat /proc/config.gz 2>/dev/null | grep IRQ_TIME_ACCOUNTING || true"], {
        encoding: "utf8",
      });
    } catch {}
  }
  if (/^CONFIG_IRQ_TIME_ACCOUNTING=y$/m.test(config))
    return "IRQ time accounted apart from tasks (CONFIG_IRQ_TIME_ACCOUNTING=y)";
  if (/^# CONFIG_IRQ_TIME_ACCOUNTING is not set$/m.test(config))
    return "softirq work charged to the task it interrupts (CONFIG_IRQ_TIME_ACCOUNTING not set)";
  return "IRQ time accounting unknown (kernel config not readable)";
}

function machine(limit) {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "?",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    arch: arch(),
    node: process.version,
    openFilesLimit: limit === undefined ? "?" : `${limit.soft} (hard ${limit.hard})`,
    clockTickUs: 1e6 / CLK_TCK,
    irqTimeAccounting: irqTimeAccounting(),
    loadAverageAtStart: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

/** How busy all CPUs were over one second, in % of their capacity (from /proc/stat). */
async function machineBusyPercent() {
  const a = machineCpu();
  await sleep(1000);
  const d = diff(a, machineCpu());
  const all = Object.values(d).reduce((x, y) => x + y, 0);
  return all === 0 ? 0 : ((all - d.idle - d.iowait) / all) * 100;
}

/** Polls `check()` every 50 ms until it returns true; throws `message()` after `timeoutMs`. */
async function waitFor(check, timeoutMs, message) {
  const until = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > until) throw new Error(await message());
    await sleep(50);
  }
}

/** Opens `count` more connections from `client` and waits until the server holds `total`. */
async function connect(server, client, { port, count, total, mode, heldKey, path, messages }) {
  const c = await client.request("connect", {
    host: "127.0.0.1",
    port,
    count,
    mode,
    path,
    messages,
    batch: BATCH,
    batchDelayMs: BATCH_DELAY_MS,
    timeoutMs: 120_000,
  });
  let status;
  await waitFor(
    async () => {
      status = await server.request("status");
      return status[heldKey] >= total;
    },
    10_000,
    () =>
      `the client opened ${int(total)} connections but the server holds only ${int(status[heldKey])}: connections were lost in the accept queue`,
  );
  if (status[heldKey] !== total || status.closed > 0)
    throw new Error(`the server holds ${status[heldKey]} connections (${status.closed} closed), expected ${total}`);
  return { client: c, server: status };
}

async function writeFloor(o, children, variant) {
  const label =
    variant.framesPerTick === 1 ? "one write per socket" : `${variant.framesPerTick} frames corked per socket`;
  const server = children.start("write-server", script("write-server.mjs"));
  const clients = Array.from({ length: o.readers }, () => children.start("client", script("client.mjs")));
  try {
    if (o.pin) {
      const { server: serverCpus, readers: readerCpus } = pinning();
      pinToCpus(server.pid, serverCpus);
      for (const client of clients) pinToCpus(client.pid, readerCpus);
    }
    const { port } = await server.request("listen");
    progress(
      `write floor, ${label}: opening ${int(o.connections)} connections (${BATCH} every ${BATCH_DELAY_MS} ms) from ${o.readers} reading process(es) …`,
    );
    const startedAt = performance.now();
    const opened = [];
    for (const [i, client] of clients.entries()) {
      // Reader i holds its share of the connections; the server's total grows reader by reader.
      const total = Math.round((o.connections * (i + 1)) / clients.length);
      const count = total - Math.round((o.connections * i) / clients.length);
      opened.push(await connect(server, client, { port, count, total, mode: "raw", heldKey: "accepted" }));
    }
    const connectMs = Math.round(performance.now() - startedAt);
    const serverOpenFiles = opened.at(-1).server.openFiles;
    const clientOpenFiles = Math.max(...opened.map((c) => c.client.openFiles));
    progress(
      `write floor, ${label}: ${int(o.connections)} open in ${connectMs} ms (server ${serverOpenFiles} open files, each client at most ${clientOpenFiles}); ${o.warmup} + ${o.rounds} rounds every ${o.intervalMs} ms …`,
    );
    await sleep(1000);
    const result = await server.request("run", {
      rounds: o.rounds,
      warmup: o.warmup,
      intervalMs: o.intervalMs,
      framesPerTick: variant.framesPerTick,
      clientPids: clients.map((c) => c.pid),
    });
    const delivery = mergeCounts(
      await Promise.all(
        clients.map((c) => c.request("awaitBytes", { perConnection: result.bytesPerConnection, timeoutMs: 15_000 })),
      ),
    );
    const latency = summarizeLatency(await Promise.all(clients.map((c) => c.request("latency"))));
    const stampedFrames = result.socketWrites * result.framesPerTick;
    delivery.ok =
      delivery.connections === o.connections &&
      delivery.short === 0 &&
      delivery.over === 0 &&
      delivery.totalBytes === result.bytesPerConnection * o.connections &&
      delivery.closed === 0 &&
      latency.frames === stampedFrames &&
      latency.badDigits === 0;
    const full = {
      variant: variant.key,
      label,
      readers: clients.length,
      ...result,
      delivery,
      deliveryLatency: latency,
      serverOpenFiles,
      clientOpenFiles,
      connectMs,
      cpuAgreement: cpuAgreement(result.window, 1e6 / CLK_TCK),
    };
    if (!delivery.ok) {
      throw new Error(
        `DELIVERY CHECK FAILED (${label}): the client received ${int(delivery.totalBytes)} of ${int(result.bytesPerConnection * o.connections)} bytes; ${delivery.short} connections short, ${delivery.over} over, min ${delivery.minBytes} / max ${delivery.maxBytes} of ${result.bytesPerConnection} per connection, ${delivery.closed} closed, ${delivery.errors} errors${delivery.lastError === undefined ? "" : ` (${delivery.lastError})`}; ${int(latency.frames)} of ${int(stampedFrames)} measured frames stamped, ${latency.badDigits} bad stamp bytes. The CPU figures of this run would be bogus.`,
      );
    }
    const s = summarizeWrite(full);
    progress(
      `write floor, ${label}: ${s.totalUsPerWrite.toFixed(2)} µs/write (user ${s.userUsPerWrite.toFixed(2)} + system ${s.systemUsPerWrite.toFixed(2)}), loop p50 ${s.loopMsP50.toFixed(1)} ms, max ${s.loopMsMax.toFixed(1)} ms; latency at the client p50 ${s.deliveryMsP50.toFixed(1)} ms, p99 ${s.deliveryMsP99.toFixed(1)} ms; delivered ${int(delivery.totalBytes)} B: all`,
    );
    if (s.othersCpuPercent > 5)
      progress(
        `write floor, ${label}: WARNING: other processes used ${s.othersCpuPercent.toFixed(0)} % of a core during the window; the figures overstate the floor`,
      );
    if (!full.cpuAgreement.agree)
      progress(
        `write floor, ${label}: WARNING: getrusage and /proc/self/stat differ by ${full.cpuAgreement.deltaPercent.toFixed(1)} %`,
      );
    return { raw: full, summary: s };
  } finally {
    for (const client of clients) await client.stop();
    await server.stop();
  }
}

/** With --pin: the write server on the first CPU this process may use, its readers on the others. */
function pinning() {
  const [first, ...rest] = cpuList(cpusAllowed());
  return { server: String(first), readers: rest.join(",") };
}

/** The CPUs of a Cpus_allowed_list ("0-2,4" → [0, 1, 2, 4]). */
function cpuList(text = "") {
  return text.split(",").flatMap((part) => {
    const [from, to = from] = part.split("-").map(Number);
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

/** The delivery counts of several reading processes as one. */
function mergeCounts(counts) {
  const sum = (field) => counts.reduce((a, c) => a + c[field], 0);
  return {
    expectedPerConnection: counts[0].expectedPerConnection,
    connections: sum("connections"),
    totalBytes: sum("totalBytes"),
    minBytes: Math.min(...counts.map((c) => c.minBytes)),
    maxBytes: Math.max(...counts.map((c) => c.maxBytes)),
    short: sum("short"),
    over: sum("over"),
    closed: sum("closed"),
    errors: sum("errors"),
    lastError: counts.find((c) => c.lastError !== undefined)?.lastError,
    cpusAllowed: [...new Set(counts.map((c) => c.cpusAllowed))].join(" "),
  };
}

async function memoryFloor(o, children, variant, run) {
  const server = children.start("memory-server", script("memory-server.mjs"), ["--variant", variant], ["--expose-gc"]);
  const client = children.start("client", script("client.mjs"));
  const mode = variant === "net-paused" || variant === "net-reading" ? "raw" : "upgrade";
  const hubcast = MESSAGES_OF[variant] ?? {};
  try {
    const { port } = await server.request("listen");
    const base = await server.request("sample");
    progress(
      `memory floor, ${variant} (run ${run}): opening ${int(o.connections)} connections${mode === "upgrade" ? " with the WebSocket handshake" : ""} in ${o.steps} steps …`,
    );
    // A reading after each step: the slope over them is the cost of one more connection once
    // the process is warm, without what the first connections cost once (compiled code,
    // arrays and heap spaces growing).
    const steps = [];
    let opened;
    for (let step = 1; step <= o.steps; step++) {
      const total = Math.floor((o.connections * step) / o.steps);
      const count = total - (steps.at(-1)?.connections ?? 0);
      opened = await connect(server, client, { port, count, total, mode, heldKey: "held", ...hubcast });
      steps.push({ connections: total, ...(await server.request("sample")) });
    }
    const full = steps.at(-1);
    const status = await server.request("status");
    const counts = await client.request("counts");
    if (
      status.closed > 0 ||
      status.held !== o.connections ||
      counts.closed > 0 ||
      counts.connections !== o.connections
    ) {
      throw new Error(
        `memory floor, ${variant}: ${status.held} held, ${status.closed} closed on the server, ${counts.closed} closed on the client; expected ${o.connections} open`,
      );
    }
    const raw = {
      variant,
      run,
      connections: o.connections,
      base,
      steps,
      full,
      connectMs: opened.client.ms,
      clientOpenFiles: opened.client.openFiles,
    };
    const s = summarizeMemory(raw);
    progress(
      `memory floor, ${variant} (run ${run}): RSS ${(s.rssBytesPerConnection / 1024).toFixed(2)} KiB/connection (${(s.rssSlopeBytesPerConnection / 1024).toFixed(2)} per connection added once warm), heap ${Math.round(s.heapUsedBytesPerConnection)} B, server ${full.openFiles} open files`,
    );
    return { raw, summary: s };
  } finally {
    await client.stop();
    await server.stop();
  }
}

function writeResults(run, raw, dir) {
  const o = run.options;
  mkdirSync(dir, { recursive: true });
  let base = join(
    dir,
    `${run.startedAt.slice(0, 16).replace(":", "")}${o.custom ? `-c${o.connections}-r${o.rounds}` : ""}`,
  );
  if (existsSync(`${base}.json`)) base = `${base}-${run.startedAt.slice(17, 19)}s`;
  writeFileSync(`${base}.json`, `${JSON.stringify({ ...run, memoryMeans: memoryMeans(run.memory), raw }, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdownReport(run));
  return base;
}

async function main() {
  const o = options();
  const limit = checkPrerequisites(o);
  const children = new Children();
  const onSignal = (signal) => {
    if (interrupted) {
      children.killAll();
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`\nfloor: ${signal}: stopping every process started (again to kill at once)\n`);
    children.stopAll().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);
  process.on("exit", () => children.killAll());

  const startedAt = new Date().toISOString();
  const m = machine(limit);
  m.busyPercentAtStart = await machineBusyPercent();
  progress(
    `${int(o.connections)} connections; the machine was ${m.busyPercentAtStart.toFixed(0)} % busy over the last second (load average ${m.loadAverageAtStart})${m.busyPercentAtStart > 10 ? ": something else is running, the figures will be noisier" : ""}`,
  );
  const write = [];
  const memory = [];
  const raw = { write: [], memory: [] };
  try {
    if (o.only !== "memory") {
      for (const variant of [
        { key: "single", framesPerTick: 1 },
        { key: "corked", framesPerTick: o.frames },
      ]) {
        const r = await writeFloor(o, children, variant);
        write.push(r.summary);
        raw.write.push(r.raw);
      }
    }
    if (o.only !== "write") {
      // Runs interleaved (every variant once, then again) so that drift hits all alike.
      for (let run = 1; run <= o.repeat; run++) {
        for (const variant of o.variants) {
          const r = await memoryFloor(o, children, variant, run);
          memory.push(r.summary);
          raw.memory.push(r.raw);
        }
      }
    }
  } finally {
    await children.stopAll();
  }
  const argv = process.argv.slice(2);
  const run = {
    startedAt,
    finishedAt: new Date().toISOString(),
    argv,
    machine: m,
    versions: { node: process.version, ws: wsVersion() },
    options: {
      connections: o.connections,
      rounds: o.rounds,
      warmup: o.warmup,
      intervalMs: o.intervalMs,
      corkedFramesPerTick: o.frames,
      readers: o.readers,
      pinned: o.pin ? pinning() : undefined,
      repeat: o.repeat,
      frameBytes: o.frameBytes,
      batch: BATCH,
      batchDelayMs: BATCH_DELAY_MS,
      custom: o.custom,
    },
    write,
    memory,
  };
  const base = writeResults(run, raw, o.out);
  process.stdout.write(`\n${textReport(run)}\n`);
  progress(`wrote ${relative(process.cwd(), base)}.json and .md`);
}

/** Set by the first Ctrl-C (or SIGTERM/SIGHUP): the run is being stopped, its errors are expected. */
let interrupted = false;

main().catch((err) => {
  if (interrupted) return;
  fail(err?.message ?? String(err));
});
