/**
 * Turns `hubcast bench --json` results into the peer comparison: per system, server CPU per
 * delivery (its own processes; Redis or NATS apart), latency, loss, and RSS per idle subscribed
 * connection; ratios relative to the first system (Hubcast, one node); a text table for the
 * terminal and a Markdown page for results/. The knee sweep's summaries start from
 * {@link summarizeFanout} too.
 */

const sum = (values) => (values.some((v) => v === undefined) ? undefined : values.reduce((a, b) => a + b, 0));
const round = (value, digits) => (value === undefined ? undefined : Math.round(value * 10 ** digits) / 10 ** digits);

/** The bench's per-target stats for `pid` (targets are named `pid:<n>`). */
function target(result, pid) {
  return result.server.targets.find((t) => t.name === `pid:${pid}`);
}

/**
 * What one fanout run says about a system. CPU per delivery is the CPU time of the system's
 * own processes (`pids`) in the measured window ÷ the deliveries the subscribers counted in
 * it (the bench's method for --server-pid targets); the engine's servers (`backendPids`:
 * Redis, a Redis Cluster's masters, NATS) are reported beside it, never in it.
 */
export function summarizeFanout(result, pids, backendPids = []) {
  const nodes = pids.map((pid) => target(result, pid));
  const cpuUs = sum(nodes.map((t) => t?.cpuMicros));
  const first = nodes[0];
  const windowUs =
    first?.measureEnd !== undefined && first.measureStart !== undefined
      ? (first.measureEnd.atMs - first.measureStart.atMs) * 1000
      : undefined;
  const deliveries = result.messages.measuredDeliveries;
  const backendUs =
    backendPids.length === 0 ? undefined : sum(backendPids.map((pid) => target(result, pid)?.cpuMicros));
  const perDelivery = (us) => (us === undefined || deliveries === 0 ? undefined : round(us / deliveries, 2));
  const percent = (us) => (us === undefined || windowUs === undefined ? undefined : round((us / windowUs) * 100, 1));
  return {
    interrupted: result.interrupted,
    interruptReason: result.interruptReason,
    cpuUsPerDelivery: perDelivery(cpuUs),
    serverCpuPercent: percent(cpuUs),
    redisCpuUsPerDelivery: perDelivery(backendUs),
    redisCpuPercent: percent(backendUs),
    p50Ms: result.latency.p50Ms,
    p90Ms: result.latency.p90Ms,
    p99Ms: result.latency.p99Ms,
    p999Ms: result.latency.p999Ms,
    maxMs: result.latency.maxMs,
    uncorrectedP99Ms: result.latency.uncorrected.p99Ms,
    published: result.messages.published,
    measuredPublished: result.messages.measuredPublished,
    publishErrors: result.messages.publishErrors,
    deliveries: result.messages.deliveries,
    measuredDeliveries: deliveries,
    expectedDeliveries: result.messages.expectedDeliveries,
    measuredSeconds: result.rates.measuredSeconds,
    deliveriesPerS: result.rates.deliveriesPerS,
    lost: result.messages.lost,
    duplicates: result.messages.duplicates,
    outOfOrder: result.messages.outOfOrder,
    connectionsReady: result.connections.ready,
    connectionsFailed: result.connections.failed,
    connectionsDropped: result.connections.dropped,
    clientProcesses: result.clients.processes,
    clientCpuPercentPerProcess: result.clients.cpuPercentPerProcess,
  };
}

/** What one connect run says: RSS growth of the system's processes ÷ connections opened. */
export function summarizeConnect(result, pids) {
  const growth = sum(pids.map((pid) => target(result, pid)?.rssGrowthBytes));
  const connections = result.connections.ready + result.connections.dropped;
  return {
    interrupted: result.interrupted,
    rssBytesPerConnection: growth === undefined || connections === 0 ? undefined : Math.round(growth / connections),
    connectionsReady: result.connections.ready,
    connectionsFailed: result.connections.failed,
    connectsPerS: result.connections.connectsPerS,
  };
}

const fmt = (value, digits = 1) =>
  value === undefined || value === null
    ? "–"
    : value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (value, base) =>
  value === undefined || base === undefined || base === 0 ? "–" : `${(value / base).toFixed(2)}×`;
const kib = (bytes) => (bytes === undefined ? undefined : bytes / 1024);

/** The comparison's rows: formatted cells, ratios against `rows[0]` (Hubcast, one node). */
export function tableRows(systems) {
  const base = systems[0];
  return systems.map((s) => {
    const f = s.fanout;
    const c = s.connect;
    const loss = f === undefined ? "–" : `${f.lost}/${f.duplicates}/${f.outOfOrder}`;
    return {
      system: s.label,
      cpu: fmt(f?.cpuUsPerDelivery, 2),
      cpuRatio: ratio(f?.cpuUsPerDelivery, base.fanout?.cpuUsPerDelivery),
      cpuPercent: fmt(f?.serverCpuPercent, 0),
      redisCpu: s.redis ? fmt(f?.redisCpuUsPerDelivery, 2) : "–",
      p50: fmt(f?.p50Ms, 1),
      p99: fmt(f?.p99Ms, 0),
      p99Ratio: ratio(f?.p99Ms, base.fanout?.p99Ms),
      rss: fmt(kib(c?.rssBytesPerConnection), 1),
      rssRatio: ratio(c?.rssBytesPerConnection, base.connect?.rssBytesPerConnection),
      loss,
      note:
        s.error !== undefined
          ? s.error.length > 60
            ? `${s.error.slice(0, 59)}…`
            : s.error
          : f?.interrupted || c?.interrupted
            ? "interrupted"
            : "",
    };
  });
}

const COLUMNS = [
  ["system", "system"],
  ["cpu", "CPU µs/deliv"],
  ["cpuRatio", "×"],
  ["cpuPercent", "CPU %"],
  ["redisCpu", "Redis/NATS µs/deliv"],
  ["p50", "p50 ms"],
  ["p99", "p99 ms"],
  ["p99Ratio", "×"],
  ["rss", "RSS KiB/conn"],
  ["rssRatio", "×"],
  ["loss", "lost/dup/ooo"],
  ["note", ""],
];

/**
 * Rows as a terminal table under `columns` ([key, title] pairs): figures right-aligned, the
 * first column (the system) and the last (words) left-aligned.
 */
export function paddedTable(columns, rows) {
  const widths = columns.map(([key, title]) => Math.max(title.length, ...rows.map((r) => r[key].length)));
  const left = (i) => i === 0 || i === columns.length - 1;
  const line = (cells) =>
    cells
      .map((cell, i) => (left(i) ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(columns.map(([, title]) => title)), ...rows.map((r) => line(columns.map(([key]) => r[key])))].join("\n");
}

/** The table for the terminal, columns padded. */
export function textTable(systems) {
  return paddedTable(COLUMNS, tableRows(systems));
}

/** The same table in Markdown. */
export function markdownTable(systems) {
  const rows = tableRows(systems);
  const head =
    "| system | server CPU µs/delivery | × Hubcast | server CPU % of a core | Redis CPU µs/delivery | p50 ms | p99 ms | × Hubcast | RSS KiB/idle conn | × Hubcast | lost/dup/out of order |";
  const rule = `|${" --- |".repeat(11)}`;
  const body = rows.map(
    (r) =>
      `| ${r.system}${r.note === "" ? "" : ` (${r.note})`} | ${r.cpu} | ${r.cpuRatio} | ${r.cpuPercent} | ${r.redisCpu} | ${r.p50} | ${r.p99} | ${r.p99Ratio} | ${r.rss} | ${r.rssRatio} | ${r.loss} |`,
  );
  return [head, rule, ...body].join("\n");
}

/** The results page: what ran, on what, the table, and what the columns mean. */
export function markdownReport(run) {
  const m = run.machine;
  const lines = [
    `# Peer benchmark, ${run.startedAt.slice(0, 10)}${run.quick ? " (--quick)" : ""}`,
    "",
    `Started ${run.startedAt}, finished ${run.finishedAt}${run.interrupted ? ", **interrupted**" : ""}. Reproduce: \`cd bench/peers && npm install && npm run peers${run.quick ? " -- --quick" : ""}\` (after \`npm run build\` at the repository root).`,
    "",
    `Machine: ${m.cpus} × ${m.cpuModel}, ${fmt(m.memoryBytes / 2 ** 30, 0)} GiB, ${m.os}, Node.js ${m.node}; servers, Redis and the bench on the same cores, over loopback.`,
    `Versions: ${Object.entries(run.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}.`,
    "",
    `Fanout: ${run.options.connections.toLocaleString("en-US")} subscribers on one channel, ${run.options.rate} publications/s of ${run.options.payloadBytes} B, ${run.options.warmupS} s warm-up + ${run.options.durationS} s measured. Connect: ${run.options.connections.toLocaleString("en-US")} connections, each subscribed to one channel, held idle ${run.options.connectHoldS} s. Every system is started fresh for each scenario.`,
    "",
    markdownTable(run.systems),
    "",
    "- *server CPU µs/delivery*: CPU time (user + system, from /proc) of the system's own processes in the measured window ÷ deliveries counted by the subscribers; *%*: the same CPU time in % of one core. Redis's CPU is the next column, not included.",
    "- *p50/p99*: end-to-end latency from the publisher's send time to the subscriber's read, corrected for coordinated omission.",
    "- *RSS KiB/idle conn*: growth of the system's resident memory while the connect scenario opened and subscribed its connections ÷ their number.",
    "- *×*: this system's value ÷ Hubcast one node's (above 1: Hubcast uses less).",
    ...run.notes.map((n) => `- ${n}`),
    "",
    "| system | what runs |",
    "| --- | --- |",
    ...run.systems.map((s) => `| ${s.label} | ${s.design} |`),
    "",
  ];
  return lines.join("\n");
}
