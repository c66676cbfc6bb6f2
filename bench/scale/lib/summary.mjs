/**
 * What a scale run reports besides the bench's own result.json and report.html: the record of
 * the run (scale.json: plan, checks, processes and their descriptors, the server's cost, the
 * machine during the run, the verdict) and a short markdown summary of it (summary.md).
 */

const fmt = (n) => (n === undefined || n === null || Number.isNaN(n) ? "–" : Math.round(n).toLocaleString("en-US"));
const fmt1 = (n) =>
  n === undefined || n === null || Number.isNaN(n) ? "–" : (Math.round(n * 10) / 10).toLocaleString("en-US");
const fmt2 = (n) =>
  n === undefined || n === null || Number.isNaN(n) ? "–" : (Math.round(n * 100) / 100).toLocaleString("en-US");
const kib = (bytes) => (bytes === undefined ? "–" : `${fmt1(bytes / 1024)} KiB`);
const mib = (bytes) => (bytes === undefined ? "–" : `${fmt(bytes / 2 ** 20)} MiB`);

/** Per role (server primary, server worker, bench coordinator, bench process): how many, and their peaks. */
export function processesByRole(samples, limits, ticksPerSecond) {
  const roles = {};
  for (const reading of samples) {
    const count = {};
    for (const p of reading.processes) {
      count[p.role] = (count[p.role] ?? 0) + 1;
      roles[p.role] ??= { processes: 0, maxFds: 0, maxRssBytes: 0, pids: new Set(), cpuTicks: new Map() };
      const r = roles[p.role];
      r.pids.add(p.pid);
      r.maxFds = Math.max(r.maxFds, p.fds ?? 0);
      r.maxRssBytes = Math.max(r.maxRssBytes, p.rssBytes ?? 0);
      r.cpuTicks.set(p.pid, p.cpuTicks);
    }
    for (const [role, n] of Object.entries(count)) roles[role].processes = Math.max(roles[role].processes, n);
  }
  // How evenly the connections were spread: each role's open files when every connection was open.
  const connected = samples.find((s) => s.label === "connected");
  const spread = (role) => {
    const fds = (connected?.processes ?? []).filter((p) => p.role === role).map((p) => p.fds ?? 0);
    return fds.length === 0 ? undefined : { min: Math.min(...fds), max: Math.max(...fds) };
  };
  return Object.fromEntries(
    Object.entries(roles).map(([role, r]) => [
      role,
      {
        processes: r.processes,
        pids: [...r.pids],
        maxFdsPerProcess: r.maxFds,
        fdsWhenConnected: spread(role),
        openFilesLimit: limits[role],
        maxRssBytesPerProcess: r.maxRssBytes,
        // CPU time at each process's last reading: what it used from its start to then.
        cpuSeconds: [...r.cpuTicks.values()].reduce((a, b) => a + b, 0) / ticksPerSecond,
      },
    ]),
  );
}

/** The peak total RSS of the server's processes (primary and workers), from /proc. */
function serverRssPeak(samples) {
  let peak = 0;
  for (const reading of samples) {
    const sum = reading.processes.filter((p) => p.role.startsWith("server")).reduce((a, p) => a + (p.rssBytes ?? 0), 0);
    peak = Math.max(peak, sum);
  }
  return peak;
}

/** The machine while the run went on: free memory before and at its lowest, TCP sockets and their buffer memory at their peak. */
function machineDuringRun(samples, before, pageBytes) {
  const min = (f) => Math.min(...samples.map((s) => f(s.machine)).filter(Number.isFinite));
  const max = (f) => Math.max(...samples.map((s) => f(s.machine)).filter(Number.isFinite));
  return {
    memAvailableBeforeBytes: before.memory.availableBytes,
    memAvailableMinBytes: samples.length > 0 ? min((m) => m.memAvailableBytes) : undefined,
    tcpInUsePeak: samples.length > 0 ? max((m) => m.tcpInUse) : undefined,
    tcpMemPeakBytes: samples.length > 0 ? max((m) => m.tcpMemPages) * pageBytes : undefined,
    tcpTimeWaitAtEnd: samples.at(-1)?.machine.tcpTimeWait,
  };
}

/** What the run's own scrapes of the cluster-wide /metrics saw. */
function metricsSeen(samples) {
  const scrapes = samples.map((s) => s.metrics).filter((m) => m !== undefined && m.error === undefined);
  const incomplete = scrapes.filter((m) => m.workersReporting !== undefined && m.workersReporting < m.workers);
  return {
    scrapes: scrapes.length,
    failedScrapes: samples.filter((s) => s.metrics?.error !== undefined).map((s) => s.metrics.error),
    maxConnections: Math.max(0, ...scrapes.map((m) => m.connections ?? 0)),
    workers: scrapes[0]?.workers,
    scrapesMissingWorkers: incomplete.length,
    fewestWorkersReporting: incomplete.length > 0 ? Math.min(...incomplete.map((m) => m.workersReporting)) : undefined,
  };
}

/** Why the run counts as failed (empty when it held every connection and delivered everything once, in order). */
export function verdictReasons(r) {
  const reasons = [];
  const b = r.bench.result;
  if (r.stoppedBy !== undefined) reasons.push(`stopped early: ${r.stoppedBy}`);
  if (b === undefined) reasons.push(`the bench wrote no result (exit status ${r.bench.exitCode})`);
  else {
    if (b.interrupted) reasons.push(`the bench was interrupted: ${b.interruptReason ?? "interrupted"}`);
    const wanted = b.connections.requested + b.connections.publishers;
    if (b.connections.ready < wanted) reasons.push(`${fmt(b.connections.ready)} of ${fmt(wanted)} connections ready`);
    if (b.connections.failed > 0) reasons.push(`${fmt(b.connections.failed)} connections failed`);
    if (b.connections.dropped > 0) reasons.push(`${fmt(b.connections.dropped)} connections dropped`);
    for (const key of ["lost", "duplicates", "outOfOrder"])
      if (b.messages[key] > 0) reasons.push(`${fmt(b.messages[key])} ${key === "outOfOrder" ? "out of order" : key}`);
    if (b.messages.published === 0) reasons.push("nothing was published");
  }
  if (r.bench.exitCode !== 0 && b !== undefined) reasons.push(`the bench exited with ${r.bench.exitCode}`);
  if (r.server.exit?.exitCode !== 0)
    reasons.push(`the server exited with ${r.server.exit?.exitCode ?? "nothing (not started)"}`);
  if (r.server.exit?.killed) reasons.push("the server did not drain in time and was killed");
  if (r.leftover.length > 0) reasons.push(`${r.leftover.length} processes were left running and had to be killed`);
  return reasons;
}

/**
 * The server's cost, as the bench read it from every server's /metrics (a cluster primary's
 * covers its workers): one target's figures, or with several nodes their totals.
 */
function serverCost(result) {
  const targets = result?.server?.targets ?? [];
  const t = targets[0];
  if (t === undefined) return undefined;
  if (targets.length === 1)
    return {
      source: t.name,
      rssBytesPerConnection: t.rssBytesPerConnection,
      rssGrowthBytes: t.rssGrowthBytes,
      connectionsAdded: t.connectionsAdded,
      rssBytesConnected: t.connected?.rssBytes,
      cpuMicrosPerDelivery: t.cpuMicrosPerDelivery,
      cpuPercentOfOneCore: t.cpuPercent,
      deliveriesCountedBy: t.deliveriesCountedBy,
      errors: t.errors,
    };
  const total = (f) => targets.reduce((a, x) => (f(x) === undefined ? a : (a ?? 0) + f(x)), undefined);
  return {
    source: `${targets.length} nodes' /metrics, added up`,
    targets: targets.length,
    rssBytesPerConnection: result.server.rssBytesPerConnection,
    rssGrowthBytes: total((x) => x.rssGrowthBytes),
    connectionsAdded: total((x) => x.connectionsAdded),
    rssBytesConnected: total((x) => x.connected?.rssBytes),
    cpuMicrosPerDelivery: result.server.cpuMicrosPerDelivery,
    cpuPercentOfOneCore: total((x) => x.cpuPercent),
    deliveriesCountedBy: t.deliveriesCountedBy,
    errors: targets.flatMap((x) => x.errors ?? []),
  };
}

/** The record of a run, written as scale.json. */
export function scaleRecord(run) {
  const result = run.bench.result;
  return {
    tool: "hubcast-scale",
    formatVersion: 1,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    command: run.command,
    ok: run.reasons.length === 0,
    reasons: run.reasons,
    options: run.options,
    plan: {
      topology: run.plan.topology,
      workers: run.plan.workers,
      processes: run.plan.processes,
      sourceAddresses: run.plan.sourceAddresses,
      destinations: run.plan.destinations,
      perProcessConnections: run.plan.perProcessConnections,
      ports: run.plan.ports,
      publishers: run.plan.publishers,
      load: run.plan.load,
      time: run.plan.time,
      memoryNeedBytes: run.plan.memoryNeedBytes,
    },
    checks: run.plan.checks,
    machine: run.machine,
    server: {
      topology: run.server.topology,
      pid: run.server.pid,
      pids: run.server.pids,
      redisPid: run.server.redisPid,
      urls: run.server.urls,
      command: run.server.command,
      liveness: run.server.liveness,
      url: run.server.url,
      readyAfterS: run.server.readyAfterS,
      exit: run.server.exit,
      drainS: run.server.drainS,
      cost: serverCost(result),
      rssPeakBytesAllProcesses: serverRssPeak(run.samples),
    },
    bench: {
      pid: run.bench.pid,
      command: run.bench.command,
      exitCode: run.bench.exitCode,
      connections: result?.connections,
      messages: result?.messages,
      rates: result?.rates,
      latency:
        result === undefined
          ? undefined
          : { p50Ms: result.latency.p50Ms, p99Ms: result.latency.p99Ms, maxMs: result.latency.maxMs },
      clients: result?.clients,
    },
    processes: processesByRole(run.samples, run.limits, run.ticksPerSecond),
    machineDuringRun: machineDuringRun(run.samples, run.machine, run.machine.pageBytes),
    metrics: metricsSeen(run.samples),
    phases: run.phases,
    leftover: run.leftover,
    samples: run.samples,
  };
}

function verdictLine(rec) {
  const c = rec.bench.connections;
  const m = rec.bench.messages;
  const held =
    c === undefined
      ? "no bench result"
      : `${fmt(c.ready)} of ${fmt(c.requested + c.publishers)} connections held (${fmt(c.requested)} subscribers, ${fmt(c.publishers)} publishers)`;
  const delivered =
    m === undefined
      ? ""
      : `; ${fmt(m.deliveries)} of ${fmt(m.expectedDeliveries)} deliveries, ${fmt(m.lost)} lost, ${fmt(m.duplicates)} duplicated, ${fmt(m.outOfOrder)} out of order`;
  return `**${rec.ok ? "Held" : "Not held"}**: ${held}${delivered}.${rec.ok ? "" : ` ${rec.reasons.join("; ")}.`}`;
}

function table(head, rows) {
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** summary.md: the verdict and what it took, in a page. */
export function markdownSummary(rec) {
  const o = rec.options;
  const load = rec.plan.load;
  const cost = rec.server.cost;
  const md = rec.machineDuringRun;
  const unit = o.topology === "nodes" ? "nodes" : "workers";
  const lines = [];
  const nodes = o.topology === "nodes";
  const where = nodes ? `on ${rec.plan.workers} nodes sharing one Redis` : "in cluster mode";
  lines.push(`# ${fmt(o.connections)} connections ${where}, ${rec.startedAt.slice(0, 10)}`, "");
  lines.push(verdictLine(rec), "");
  lines.push(`Command: \`${rec.command}\` (started ${rec.startedAt}, finished ${rec.finishedAt}).`, "");
  lines.push(
    `Machine: ${rec.machine.cores} cores, ${mib(rec.machine.memory.totalBytes)} of memory (${mib(rec.machine.memory.availableBytes)} available at the start); server and bench on the same cores, over loopback.`,
    "",
  );
  lines.push("## Processes and descriptors", "");
  lines.push(
    table(
      [
        "role",
        "processes",
        "open files at most (per process)",
        "open files with every connection open (fewest – most)",
        "open-files limit (soft / hard)",
        "RSS at most (per process)",
        "CPU s (all, whole run)",
      ],
      Object.entries(rec.processes).map(([role, p]) => [
        role,
        fmt(p.processes),
        fmt(p.maxFdsPerProcess),
        p.fdsWhenConnected === undefined ? "–" : `${fmt(p.fdsWhenConnected.min)} – ${fmt(p.fdsWhenConnected.max)}`,
        p.openFilesLimit === undefined ? "–" : `${fmt(p.openFilesLimit.soft)} / ${fmt(p.openFilesLimit.hard)}`,
        mib(p.maxRssBytesPerProcess),
        fmt1(p.cpuSeconds),
      ]),
    ),
    "",
  );
  lines.push(
    `Planned: ${rec.plan.workers} server ${nodes ? "nodes" : "workers"} and ${rec.plan.processes} bench processes, each holding at most ${fmt(rec.plan.perProcessConnections)} connections (the open-files hard limit less ${fmt(1000)} for the process itself).`,
    "",
  );
  lines.push("## Source addresses and ports", "");
  lines.push(
    `${
      rec.plan.sourceAddresses === 1
        ? `Unbound sockets toward ${fmt(rec.plan.destinations)} server port${rec.plan.destinations === 1 ? "" : "s"}: connect() picks each port per destination, ${fmt(rec.plan.ports)} ephemeral ports each, so at most ${fmt(Math.ceil((o.connections + rec.plan.publishers) / rec.plan.destinations))} connections per destination`
        : `${rec.plan.sourceAddresses} bound source addresses (127.0.0.1 … 127.0.0.${rec.plan.sourceAddresses}) toward ${fmt(rec.plan.destinations)} server port${rec.plan.destinations === 1 ? "" : "s"}: each bind takes a port of the address's own, ${fmt(rec.plan.ports)} ephemeral ports each, so at most ${fmt(Math.ceil((o.connections + rec.plan.publishers) / rec.plan.sourceAddresses))} connections per address`
    }. TCP sockets in use at the peak: ${fmt(md.tcpInUsePeak)}; in TIME_WAIT at the end: ${fmt(md.tcpTimeWaitAtEnd)}.`,
    "",
  );
  lines.push("## Kernel settings and other prerequisites (read before the run)", "");
  lines.push(
    table(
      ["check", "value", "needed", "verdict"],
      rec.checks.map((c) => [c.name, c.value, c.need, c.fix ? `${c.level}: ${c.fix}` : c.level]),
    ),
    "",
  );
  lines.push("## Load", "");
  lines.push(
    `Each connection gets one broadcast every ${fmt1(o.broadcastInterval)} s: ${o.channels} channels of about ${fmt(load.connectionsPerBroadcast)} subscribers, one publisher each, taking turns, ${fmt2(load.rate)} publications/s in all, so ${fmt(load.deliveriesPerS)} deliveries/s. At the platform floor (${fmt2(load.floor.serverUsPerWrite)} µs of server CPU per \`socket.write()\`, ${fmt2(load.floor.clientUsPerWrite)} µs of client CPU per read; ${load.floor.source}) that is ${fmt2(load.serverCores)} cores of server writes and ${fmt2(load.clientCores)} of client reads: ${fmt1(load.share * 100)} % of the machine before any of Hubcast's own work.`,
    "",
  );
  lines.push(
    `Ramp at ${fmt(o.rampRate)}/s asked${rec.bench.connections === undefined ? "" : `, ${fmt(rec.bench.connections.connectsPerS)}/s reached (${fmt1(rec.bench.connections.rampSeconds)} s)`}; warm-up ${fmt1(o.warmup)} s, measured ${fmt1(o.duration)} s. Latency (CO-corrected): p50 ${fmt(rec.bench.latency?.p50Ms)} ms, p99 ${fmt(rec.bench.latency?.p99Ms)} ms, max ${fmt(rec.bench.latency?.maxMs)} ms.`,
    "",
  );
  lines.push(
    `## Server cost (${nodes ? "every node's /metrics, added up; Redis apart" : "cluster-wide /metrics: every worker and the primary"})`,
    "",
  );
  lines.push(
    `- RSS per connection: ${kib(cost?.rssBytesPerConnection)} (growth ${mib(cost?.rssGrowthBytes)} over ${fmt(cost?.connectionsAdded)} connections, from before the first connection to after the ramp); RSS with every connection open: ${mib(cost?.rssBytesConnected)}; peak RSS of all server processes (/proc): ${mib(rec.server.rssPeakBytesAllProcesses)}.`,
    `- CPU per delivery: ${fmt2(cost?.cpuMicrosPerDelivery)} µs (counted by the ${cost?.deliveriesCountedBy ?? "–"}); CPU in the measured window: ${fmt(cost?.cpuPercentOfOneCore)} % of one core.`,
    `- Bench clients: ${rec.bench.clients?.processes ?? "–"} processes at ${fmt1(rec.bench.clients?.cpuPercentPerProcess)} % of a core each, ${fmt2(rec.bench.clients?.cpuMicrosPerDelivery)} µs per delivery.`,
    `- The run's own scrapes of /metrics: ${rec.metrics.scrapes} answered${rec.metrics.failedScrapes.length === 0 ? "" : ` (${rec.metrics.failedScrapes.length} more failed: ${rec.metrics.failedScrapes[0]})`}, at most ${fmt(rec.metrics.maxConnections)} connections; ${rec.metrics.scrapesMissingWorkers === 0 ? `every scrape held all ${fmt(rec.metrics.workers)} ${unit}` : `${rec.metrics.scrapesMissingWorkers} scrapes missed ${unit} (as few as ${rec.metrics.fewestWorkersReporting} of ${rec.metrics.workers} answered): the server's figures may leave some out`}.`,
    "",
  );
  lines.push("## Memory of the machine", "");
  lines.push(
    `MemAvailable ${mib(md.memAvailableBeforeBytes)} before the run, ${mib(md.memAvailableMinBytes)} at its lowest: ${kib((md.memAvailableBeforeBytes - md.memAvailableMinBytes) / Math.max(1, o.connections + rec.plan.publishers))} per connection for the server, the clients and the kernel together (anything else running on the machine counts too). TCP buffer memory at its peak (/proc/net/sockstat): ${mib(md.tcpMemPeakBytes)}.`,
    "",
  );
  lines.push("## Server settings and shutdown", "");
  const l = rec.server.liveness;
  const started = nodes
    ? `${rec.plan.workers} × \`hubcast start --engine redis\`, each on its own port, sharing one \`redis-server\` started for the run,`
    : `\`hubcast start --workers ${rec.plan.workers}\` (memory engine, ${o.balancing})`;
  lines.push(
    `${started} with ping every ${fmt(l.pingIntervalMs / 1000)} s, ${fmt(l.pongTimeoutMs / 1000)} s to answer, ${fmt(l.connectTimeoutMs / 1000)} s to send \`connect\`, no idle timeout, and the abuse limits off (command rate, admission). Ready after ${fmt1(rec.server.readyAfterS)} s. Stopped with SIGTERM: drained in ${fmt1(rec.server.drainS)} s (drain window ${fmt(o.drainWindowMs)} ms), exit status ${rec.server.exit?.exitCode ?? "–"}${rec.server.exit?.killed ? ", killed after the grace period" : ""}. Processes left running afterwards: ${rec.leftover.length}.`,
    "",
  );
  lines.push("## Phases", "");
  lines.push(
    table(
      ["phase", "from s", "to s"],
      rec.phases.map((p) => [p.name, fmt1(p.fromS), fmt1(p.toS)]),
    ),
    "",
  );
  lines.push(
    `Files: \`result.json\` and \`report.html\` (the bench), \`scale.json\` (this run: plan, checks, every reading), ${nodes ? "`server-1.log` … (one per node), `redis.log`" : "`server.log`"}, \`bench.log\`, \`server-config.json\`.`,
    "",
  );
  return lines.join("\n");
}
