/**
 * Summaries and tables of a floor run: the write floor (CPU per write, loop wall time,
 * delivery check) and the memory floor (growth per idle connection), as text for the
 * terminal and as the Markdown page for results/.
 */

/**
 * A number with `digits` decimals, or "–" when there is none. Figures that crossed a process
 * boundary (IPC, JSON) turn NaN into `null`, so `null` means "not measured" as well.
 */
const fixed = (value, digits) => (typeof value !== "number" || Number.isNaN(value) ? "–" : value.toFixed(digits));
const int = (value) => value.toLocaleString("en-US");

/** Whether getrusage and /proc/self/stat agree on user and system time: within 2 clock ticks + 1 %. */
export function cpuAgreement(window, tickUs) {
  const check = (a, b) => Math.abs(a - b) <= 2 * tickUs + 0.01 * Math.max(a, b);
  const user = check(window.rusage.userUs, window.proc.userUs);
  const system = check(window.rusage.systemUs, window.proc.systemUs);
  const total = window.rusage.userUs + window.rusage.systemUs;
  const deltaPercent = total === 0 ? 0 : ((window.proc.userUs + window.proc.systemUs - total) / total) * 100;
  return { agree: user && system, deltaPercent };
}

/**
 * CPU used in the window by everything but the server and the client, in % of one core:
 * the machine's busy time (/proc/stat) minus both processes' (each tick is counted once in
 * /proc/stat and once for the task it interrupted, softirq ticks included). Above a few %,
 * something else competed for the cores and the loop times are not the floor.
 */
export function othersCpuPercent(window) {
  const m = window.machine;
  const busy = m.user + m.nice + m.system + m.irq + m.softirq + m.steal;
  const own =
    window.proc.userUs +
    window.proc.systemUs +
    (window.client === undefined ? 0 : window.client.userUs + window.client.systemUs);
  return (Math.max(0, busy - own) / window.wallUs) * 100;
}

/** One write-floor result in the units of the tables. */
export function summarizeWrite(result) {
  const p = result.perSocketWriteUs;
  const k = result.framesPerTick;
  return {
    variant: result.variant,
    label: result.label,
    connections: result.connections,
    rounds: result.rounds,
    framesPerTick: k,
    userUsPerWrite: p.rusageUser,
    systemUsPerWrite: p.rusageSystem,
    totalUsPerWrite: p.rusageUser + p.rusageSystem,
    totalUsPerFrame: (p.rusageUser + p.rusageSystem) / k,
    procUserUsPerWrite: p.procUser,
    procSystemUsPerWrite: p.procSystem,
    mainThreadUsPerWrite: p.mainThreadUser + p.mainThreadSystem,
    cpuSourcesAgree: result.cpuAgreement.agree,
    cpuSourcesDeltaPercent: result.cpuAgreement.deltaPercent,
    serverCpuPercent: ((result.window.rusage.userUs + result.window.rusage.systemUs) / result.window.wallUs) * 100,
    loopMsP50: result.loopMs.p50,
    loopMsP99: result.loopMs.p99,
    loopMsMax: result.loopMs.max,
    settledMsP50: result.settledMs.p50,
    settledMsMax: result.settledMs.max,
    deliveryMsP50: result.deliveryLatency?.p50Ms,
    deliveryMsP99: result.deliveryLatency?.p99Ms,
    deliveryMsMax: result.deliveryLatency?.maxMs,
    clientUsPerWrite: p.clientUser === undefined ? undefined : p.clientUser + p.clientSystem,
    machineSoftirqUsPerWrite: p.machine.softirq,
    othersCpuPercent: othersCpuPercent(result.window),
    machineStealUsPerWrite: p.machine.steal,
    deliveredBytes: result.delivery.totalBytes,
    expectedBytes: result.delivery.expectedPerConnection * result.connections,
    delivered: result.delivery.ok,
    writesLeftQueued: result.writesLeftQueued,
  };
}

/**
 * One memory-floor result: growth per connection from no connections to N, and the slope of
 * RSS over the readings taken after each step (least squares): what one more connection costs
 * once the process is warm.
 */
export function summarizeMemory(result) {
  const { base, steps, full, connections } = result;
  const per = (field, from, n) => (full[field] - from[field]) / n;
  return {
    variant: result.variant,
    run: result.run,
    connections,
    rssBytesPerConnection: per("rss", base, connections),
    rssSlopeBytesPerConnection: slope(steps.map((s) => [s.connections, s.rss])),
    rssAnonBytesPerConnection: per("rssAnon", base, connections),
    heapUsedBytesPerConnection: per("heapUsed", base, connections),
    externalBytesPerConnection: per("external", base, connections),
    rssBaseMiB: base.rss / 2 ** 20,
    rssFullMiB: full.rss / 2 ** 20,
  };
}

/** Per variant: mean, min and max of the runs' RSS per connection. */
export function memoryMeans(memory) {
  const variants = [...new Set(memory.map((m) => m.variant))];
  return variants.map((variant) => {
    const runs = memory.filter((m) => m.variant === variant);
    const mean = (field) => runs.reduce((a, r) => a + r[field], 0) / runs.length;
    const rss = runs.map((r) => r.rssBytesPerConnection);
    return {
      variant,
      runs: runs.length,
      rssBytesPerConnection: mean("rssBytesPerConnection"),
      rssMinBytes: Math.min(...rss),
      rssMaxBytes: Math.max(...rss),
      rssSlopeBytesPerConnection: mean("rssSlopeBytesPerConnection"),
      heapUsedBytesPerConnection: mean("heapUsedBytesPerConnection"),
      externalBytesPerConnection: mean("externalBytesPerConnection"),
    };
  });
}

const kib = (bytes) => fixed(bytes / 1024, 2);

function writeRows(write) {
  return write.map((w) => [
    w.label,
    fixed(w.userUsPerWrite, 2),
    fixed(w.systemUsPerWrite, 2),
    fixed(w.totalUsPerWrite, 2),
    fixed(w.totalUsPerFrame, 2),
    `${fixed(w.procUserUsPerWrite, 2)} / ${fixed(w.procSystemUsPerWrite, 2)} (${w.cpuSourcesAgree ? "agree" : "DIFFER"}, Δ ${fixed(w.cpuSourcesDeltaPercent, 1)} %)`,
    `${fixed(w.loopMsP50, 1)} / ${fixed(w.loopMsP99, 1)} / ${fixed(w.loopMsMax, 1)}`,
    `${fixed(w.settledMsP50, 1)} / ${fixed(w.settledMsMax, 1)}`,
    `${fixed(w.deliveryMsP50, 1)} / ${fixed(w.deliveryMsP99, 1)} / ${fixed(w.deliveryMsMax, 1)}`,
    fixed(w.clientUsPerWrite, 2),
    fixed(w.machineSoftirqUsPerWrite, 2),
    fixed(w.othersCpuPercent, 1),
    `${w.delivered ? "ok" : "FAILED"}: ${int(w.deliveredBytes)} of ${int(w.expectedBytes)} B`,
  ]);
}
const WRITE_HEAD = [
  "variant",
  "user µs/write",
  "system µs/write",
  "total µs/write",
  "total µs/frame",
  "/proc user / system µs/write",
  "loop ms p50 / p99 / max",
  "settled ms p50 / max",
  "latency at the client ms p50 / p99 / max",
  "client CPU µs/write",
  "machine softirq µs/write",
  "others' CPU %",
  "delivered",
];

function memoryRows(memory) {
  return memory.map((m) => [
    m.variant,
    String(m.run),
    kib(m.rssBytesPerConnection),
    kib(m.rssSlopeBytesPerConnection),
    kib(m.rssAnonBytesPerConnection),
    int(Math.round(m.heapUsedBytesPerConnection)),
    int(Math.round(m.externalBytesPerConnection)),
    `${fixed(m.rssBaseMiB, 1)} → ${fixed(m.rssFullMiB, 1)}`,
  ]);
}
const MEMORY_HEAD = [
  "variant",
  "run",
  "RSS KiB/conn 0→N",
  "RSS KiB/conn slope",
  "RssAnon KiB/conn",
  "heap B/conn",
  "external B/conn",
  "RSS MiB",
];

function meanRows(means) {
  return means.map((m) => [
    m.variant,
    String(m.runs),
    kib(m.rssBytesPerConnection),
    `${kib(m.rssMinBytes)} – ${kib(m.rssMaxBytes)}`,
    kib(m.rssSlopeBytesPerConnection),
    int(Math.round(m.heapUsedBytesPerConnection)),
    int(Math.round(m.externalBytesPerConnection)),
  ]);
}
const MEAN_HEAD = [
  "variant",
  "runs",
  "RSS KiB/conn (mean)",
  "min – max",
  "RSS KiB/conn slope (mean)",
  "heap B/conn",
  "external B/conn",
];

function textGrid(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function mdGrid(head, rows) {
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

function titles(run) {
  const o = run.options;
  return {
    write: `Write floor: ${int(o.connections)} connections${(o.readers ?? 1) > 1 ? ` read by ${o.readers} processes` : ""}${o.pinned === undefined ? "" : ` (server on CPU ${o.pinned.server}, readers on CPU ${o.pinned.readers})`}, ${o.rounds} measured rounds (+${o.warmup} warm-up) every ${o.intervalMs} ms, ${o.frameBytes}-byte frame`,
    memory: `Memory floor: ${int(o.connections)} idle connections, each variant in a fresh process, ${o.repeat} run(s) each`,
  };
}

/** The tables for the terminal. */
export function textReport(run) {
  const t = titles(run);
  const parts = [];
  if (run.write.length > 0) parts.push(`${t.write}\n\n${textGrid(WRITE_HEAD, writeRows(run.write))}`);
  if (run.memory.length > 0)
    parts.push(
      `${t.memory}\n\n${textGrid(MEMORY_HEAD, memoryRows(run.memory))}\n\n${textGrid(MEAN_HEAD, meanRows(memoryMeans(run.memory)))}`,
    );
  return parts.join("\n\n");
}

/** The Markdown page for results/<date>.md. */
export function markdownReport(run) {
  const t = titles(run);
  const m = run.machine;
  const lines = [
    `# Platform floor, ${run.startedAt.slice(0, 10)}`,
    "",
    `Started ${run.startedAt}, finished ${run.finishedAt}. Reproduce: \`node bench/floor/run.mjs${run.argv.length > 0 ? ` ${run.argv.join(" ")}` : ""}\`.`,
    "",
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Linux ${m.kernel} ${m.arch}, Node.js ${m.node}${run.versions.ws === undefined ? "" : `, ws ${run.versions.ws}`}; open-files limit ${m.openFilesLimit}; clock tick ${m.clockTickUs} µs; ${m.irqTimeAccounting}. ${run.options.pinned === undefined ? "Servers and clients on the same cores" : "The write server on its own CPU, its readers on the others (the memory floor unpinned)"}, over loopback; the machine was ${fixed(m.busyPercentAtStart, 0)} % busy in the second before the run.`,
    "",
  ];
  if (run.write.length > 0) {
    lines.push(`## ${t.write}`, "", mdGrid(WRITE_HEAD, writeRows(run.write)), "");
    lines.push(
      "- *user / system / total µs/write*: CPU time of the server process (all its threads; process.cpuUsage) in the measured window ÷ socket writes in it (connections × rounds). For the corked variant one *write* is one socket's cork … uncork (one writev); *µs/frame* divides by the frames.",
      "- */proc*: the same window read from /proc/self/stat (clock-tick resolution); *agree* when both sources are within 2 ticks + 1 %.",
      "- *loop ms*: wall time of one round's loop over every socket (p50 / p99 / max); *settled*: from the start of the loop until the event loop ran a setImmediate queued after it (includes the write callbacks).",
      "- *latency at the client*: for every frame of the measured rounds, from the start of its round's loop to the client's read of it (the frame carries the time; one monotonic clock for both processes): the floor's delivery latency, measured as a fanout benchmark measures publish to receipt. It includes the kernel's delivery and the client's own queueing on the shared cores.",
      "- *client CPU*: the reading client process (all of them together, with --readers), from /proc/<pid>/stat, per server write. *machine softirq*: the machine's softirq time (/proc/stat, both CPUs) per write. On loopback the sender's system time includes the receiver's TCP receive path: the packet is processed in a softirq in the sender's context, charged to the sender's system time unless the kernel accounts IRQ time apart (see Machine).",
      "- *others' CPU %*: CPU time in the window of every other process on the machine (machine busy time from /proc/stat minus server and client), in % of one core; above a few %, something competed for the cores and the loop times overstate the floor.",
      "- *delivered*: bytes the client counted over all connections (warm-up rounds included) vs connections × rounds × frames × frame size; the run fails when they differ on any connection.",
      "",
    );
  }
  if (run.memory.length > 0) {
    lines.push(
      `## ${t.memory}`,
      "",
      mdGrid(MEAN_HEAD, meanRows(memoryMeans(run.memory))),
      "",
      "Every run:",
      "",
      mdGrid(MEMORY_HEAD, memoryRows(run.memory)),
      "",
    );
    lines.push(
      "- *net-paused*: bare `net` server with pauseOnConnect, the socket never read. *net-reading*: bare `net` server with a 'data' listener. *http-upgrade*: `http` server, WebSocket handshake answered by hand in 'upgrade', the socket kept (reading). *net-upgrade*: `net` server reading the handshake itself, the socket kept (reading). *net-exchange*: net-upgrade, then two small frames answered per connection (the I/O of a connect and a subscribe, no state kept). *ws*: `http` server + `ws` WebSocketServer (noServer, perMessageDeflate off, clientTracking off), the WebSocket kept. *hubcast*: a Hubcast node (memory engine), each connection connected and subscribed to one channel.",
      "- *RSS KiB/conn 0→N*: growth of the server's RSS from before the first connection to after the last ÷ N, each reading after two full garbage collections (--expose-gc); *slope*: the least-squares slope of RSS over the readings taken after each N/S connections (S = --steps), the cost of one more connection once the process is warm (fixed costs such as code compiled on the first connection, or heap spaces grown once, drop out). *heap*, *external*: process.memoryUsage() growth ÷ N.",
      "- RSS counts the process's own memory only; the kernel's socket memory (struct sock, buffers) comes on top and appears in no process's RSS.",
      "",
    );
  }
  lines.push("See bench/floor/README.md for the method.", "");
  return lines.join("\n");
}

/** The least-squares slope of y over x for `points` ([x, y] pairs, at least two x values). */
export function slope(points) {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxy / sxx;
}
