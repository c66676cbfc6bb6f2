/**
 * The knee sweep's report: the knee table (every system, sorted by deliveries/s at its knee),
 * the scale-out table (Hubcast on 1, 2, 3 nodes on Redis and on a Redis Cluster), every
 * step of every ladder, as text for the terminal, Markdown for results/, and an HTML page
 * with the knee table and each ladder charted.
 */
import { escapeHtml, lineChart } from "@hubcast/bench";
import { CLIENT_BOUND_PERCENT } from "./knee-step.mjs";
import { paddedTable } from "./report.mjs";

/** The scale-out series in the order of its table; the memory-engine node heads it when it ran. */
export const SCALE_OUT_KEYS = [
  "hubcast",
  "hubcast-redis-1",
  "hubcast-redis-2",
  "hubcast-redis-3",
  "hubcast-redis-cluster-3",
];

const NODES = {
  hubcast: 1,
  "hubcast-redis-1": 1,
  "hubcast-redis-2": 2,
  "hubcast-redis-3": 3,
  "hubcast-redis-cluster-3": 3,
};

const num = (value, digits = 0) =>
  value === undefined || value === null
    ? "–"
    : value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
/** A rate as the ladder named it (3 significant digits, see ladder.mjs), grouped: `2.74/s`, `1,370/s`. */
const rate = (r) => `${r.toLocaleString("en-US", { maximumFractionDigits: 2 })}/s`;

/** What ended a system's ladder, in words: the first failing step and why, or why there is none. */
export function failureText(s) {
  if (s.error !== undefined && s.steps.length === 0) return s.error;
  if (s.outcome === "stopped") return s.steps.at(-1)?.interrupted ? "interrupted" : `stopped: ${s.error}`;
  if (s.failed === undefined) return `none up to ${rate(s.knee.rate)} (the ladder's top)`;
  const below = s.knee === undefined ? "every step failed; the lowest: " : "";
  return `${below}${rate(s.failed.rate)}: ${s.failed.reasons.join(", ")}`;
}

/** The knee cell: the rate, marked ≥ when no step failed (the knee lies higher). */
const kneeRate = (s) =>
  s.knee === undefined ? "–" : `${s.outcome === "above-ladder" ? "≥ " : ""}${rate(s.knee.rate)}`;

/** Systems sorted by deliveries/s at the knee, highest first; those without a knee last, in run order. */
export function sortByKnee(systems) {
  const at = (s) => s.knee?.deliveriesPerS ?? -1;
  return [...systems].sort((a, b) => at(b) - at(a));
}

/** The knee table's rows, sorted: formatted cells. */
export function kneeRows(systems) {
  return sortByKnee(systems).map((s) => {
    const k = s.knee;
    return {
      system: s.label,
      rate: kneeRate(s),
      deliveries: num(k?.deliveriesPerS),
      cpu: num(k?.serverCpuPercent),
      perCore: num(k?.deliveriesPerSPerCore),
      redisCpu: s.redis ? num(k?.redisCpuPercent, 1) : "–",
      perCoreWithRedis: s.redis ? num(k?.deliveriesPerSPerCoreWithRedis) : "–",
      p50: num(k?.p50Ms, 1),
      p99: num(k?.p99Ms, 0),
      clients: `${num(k?.clientCpuPercentPerProcess)}${k?.clientBound ? "*" : ""}`,
      failed: failureText(s),
    };
  });
}

const KNEE_COLUMNS = [
  ["system", "system"],
  ["rate", "knee pub/s"],
  ["deliveries", "deliveries/s"],
  ["cpu", "server CPU %"],
  ["perCore", "deliv/s per core"],
  ["redisCpu", "Redis CPU %"],
  ["perCoreWithRedis", "per core incl. Redis"],
  ["p50", "p50 ms"],
  ["p99", "p99 ms"],
  ["clients", "bench CPU %"],
  ["failed", "first failing step"],
];

/** The knee table for the terminal, columns padded. */
export function kneeTextTable(systems) {
  return paddedTable(KNEE_COLUMNS, kneeRows(systems));
}

const markdownRow = (cells) => `| ${cells.join(" | ")} |`;

/** The knee table in Markdown. */
export function kneeMarkdownTable(systems) {
  const titles = [
    "system",
    "knee, publications/s",
    "deliveries/s",
    "server CPU % of a core",
    "deliveries/s per core of server CPU",
    "Redis/NATS CPU %",
    "deliveries/s per core, Redis included",
    "p50 ms",
    "p99 ms",
    "bench CPU % per process",
    "first failing step",
  ];
  const rows = kneeRows(systems).map((r) => markdownRow(KNEE_COLUMNS.map(([k]) => r[k])));
  return [markdownRow(titles), `|${" --- |".repeat(titles.length)}`, ...rows].join("\n");
}

/** The scale-out table: each Hubcast deployment of the series that ran, its knee, ratios to one node on Redis. */
export function scaleOutMarkdownTable(systems) {
  const series = SCALE_OUT_KEYS.map((key) => systems.find((s) => s.key === key)).filter((s) => s !== undefined);
  if (series.filter((s) => s.key !== "hubcast").length === 0) return undefined;
  const base = systems.find((s) => s.key === "hubcast-redis-1")?.knee?.deliveriesPerS;
  const ratio = (v) => (v === undefined || base === undefined || base === 0 ? "–" : `${(v / base).toFixed(2)}×`);
  const titles = [
    "deployment",
    "nodes",
    "knee deliveries/s",
    "× 1 node on Redis",
    "nodes' CPU %",
    "deliveries/s per core (nodes)",
    "Redis CPU %",
    "deliveries/s per core (nodes + Redis)",
  ];
  const rows = series.map((s) => {
    const k = s.knee;
    return markdownRow([
      s.label,
      String(NODES[s.key]),
      `${s.outcome === "above-ladder" ? "≥ " : ""}${num(k?.deliveriesPerS)}`,
      ratio(k?.deliveriesPerS),
      num(k?.serverCpuPercent),
      num(k?.deliveriesPerSPerCore),
      s.redis ? num(k?.redisCpuPercent, 1) : "–",
      s.redis ? num(k?.deliveriesPerSPerCoreWithRedis) : num(k?.deliveriesPerSPerCore),
    ]);
  });
  return [markdownRow(titles), `|${" --- |".repeat(titles.length)}`, ...rows].join("\n");
}

/**
 * The scale-out series on Redis compared at the same rates: server CPU µs per delivery (the nodes' CPU ÷
 * deliveries) at each publication rate every deployment of the series sustained. Per-core figures
 * at each system's own knee compare different rates, and a node's cost per delivery falls as the
 * rate grows (more publications reach a socket in one event-loop turn and go out in one write), so
 * a deployment with a lower knee looks dearer per delivery than it is.
 */
export function scaleOutCostByRate(systems) {
  // The deployments on Redis: the memory-engine node makes no round trip, and its ladder would narrow the common rates.
  const series = SCALE_OUT_KEYS.filter((key) => key !== "hubcast")
    .map((key) => systems.find((s) => s.key === key))
    .filter((s) => s !== undefined);
  return costAtRates(series, (sustainedBy) => sustainedBy === series.length);
}

/** `scaleOutCostByRate` as Markdown, or undefined when fewer than two deployments share a sustained rate. */
export function scaleOutCostMarkdownTable(systems) {
  const cost = scaleOutCostByRate(systems);
  if (cost.rows.length < 2) return undefined;
  return costMarkdownTable(cost, "deployment", (r) => `µs per delivery at ${rate(r)}`);
}

/**
 * Every system's server CPU µs per delivery at each rate it sustained, over every rate some
 * system sustained: systems compared at the same load, where the knee table compares each at
 * its own.
 */
export function costByRate(systems) {
  return costAtRates(sortByKnee(systems), (sustainedBy) => sustainedBy > 0);
}

/** `costByRate` as Markdown (– where a system did not sustain that rate), or undefined when no step was sustained. */
export function costByRateMarkdownTable(systems) {
  return costMarkdownTable(costByRate(systems), "system", (r) => `µs at ${rate(r)}`);
}

/**
 * Server CPU µs per delivery of each of `systems` (in that order) at each rate that enough of
 * them sustained (`keepRate` is given how many did); undefined where one did not.
 */
function costAtRates(systems, keepRate) {
  const sustained = (s, r) =>
    s.steps.find((step) => step.rate === r && step.pass && step.cpuUsPerDelivery !== undefined);
  const rates = [...new Set(systems.flatMap((s) => s.steps.map((step) => step.rate)))]
    .filter((r) => keepRate(systems.filter((s) => sustained(s, r) !== undefined).length))
    .sort((a, b) => a - b);
  return {
    rates,
    rows: systems.map((s) => ({
      key: s.key,
      label: s.label,
      cpuUsPerDelivery: rates.map((r) => sustained(s, r)?.cpuUsPerDelivery),
    })),
  };
}

/** A cost-at-rates table as Markdown (– for a rate a row did not sustain), or undefined without a rate. */
function costMarkdownTable({ rates, rows }, firstTitle, rateTitle) {
  if (rates.length === 0) return undefined;
  const titles = [firstTitle, ...rates.map(rateTitle)];
  const lines = rows.map((row) => markdownRow([row.label, ...row.cpuUsPerDelivery.map((us) => num(us, 1))]));
  return [markdownRow(titles), `|${" --- |".repeat(titles.length)}`, ...lines].join("\n");
}

/** Every step of one system's ladder, in the order run. */
export function stepsMarkdownTable(s) {
  const titles = [
    "#",
    "phase",
    "publications/s",
    "deliveries/s",
    "server CPU %",
    "Redis CPU %",
    "p50 ms",
    "p99 ms",
    "bench CPU %",
    "verdict",
  ];
  const rows = s.steps.map((step, i) =>
    markdownRow([
      String(i + 1),
      step.phase ?? "–",
      rate(step.rate),
      num(step.deliveriesPerS),
      num(step.serverCpuPercent),
      s.redis ? num(step.redisCpuPercent, 1) : "–",
      num(step.p50Ms, 1),
      num(step.p99Ms, 0),
      num(step.clientCpuPercentPerProcess),
      (step.interrupted
        ? "interrupted"
        : step.pass
          ? "sustained"
          : `${step.stopped ? "not run" : "failed"}: ${step.reasons.join(", ")}`) +
        (step.firstTry === undefined ? "" : ` (second try; the first: ${step.firstTry.reasons.join(", ")})`),
    ]),
  );
  return [markdownRow(titles), `|${" --- |".repeat(titles.length)}`, ...rows].join("\n");
}

/** Why the same-rate tables exist, as both of them say it. */
const RATE_EFFECT =
  "A server's cost per delivery falls as the rate grows (more publications reach a socket in one event-loop turn and leave in one write), so per-core figures taken at different knees also compare different rates";

/** A report section: heading, table and what it says, or nothing when there is no table. */
const section = (heading, table, note) => (table === undefined ? [] : [heading, "", table, "", note, ""]);

/** The results page: what ran, on what, the knee and scale-out tables, every ladder, and how to read them. */
export function kneeMarkdownReport(run) {
  const m = run.machine;
  const o = run.options;
  const lines = [
    `# Throughput knee, ${run.startedAt.slice(0, 10)}${run.label === undefined ? "" : ` (${run.label})`}`,
    "",
    `Started ${run.startedAt}, finished ${run.finishedAt}${run.interrupted ? ", **interrupted**" : ""}. Reproduce: \`cd bench/peers && npm install && npm run knee -- ${run.argv.join(" ")}\` (after \`npm run build\` at the repository root).`,
    "",
    m === undefined
      ? "Machine: not recorded (no step reported)."
      : `Machine: ${m.cpus} × ${m.cpuModel}, ${num(m.memoryBytes / 2 ** 30)} GiB, ${m.os}, Node.js ${m.node}; servers, Redis and the bench on the same cores, over loopback.`,
    `Versions: ${Object.entries(run.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}.`,
    "",
    `Method: ${o.connections.toLocaleString("en-US")} subscribers on one channel, ${o.payloadBytes} B publications. For each system, on freshly started servers, \`hubcast bench fanout\` runs steps of ${o.warmupS} s warm-up + ${o.stepDurationS} s measured at a publication rate that starts at ${rate(o.startRate)} and grows ×${o.factor} per step (at most ${o.maxSteps} ladder steps) until a step fails, then up to ${o.refineSteps} bisection steps between the last sustained and the first failed rate. A step is sustained when p99 latency ≤ ${o.p99BoundMs} ms and no delivery was lost, duplicated or out of order, no publish failed, no connection failed or dropped, and the publisher kept the rate. A step that fails on p99 alone is run once more on fresh servers, and the second try counts. The servers are restarted after a failed step.`,
    "",
    "## Knee per system",
    "",
    kneeMarkdownTable(run.systems),
    "",
    "- *knee*: the highest sustained step below the first failed one (≥: no step failed up to the ladder's top).",
    "- *deliveries/s*: counted by the subscribers in the measured window of that step.",
    "- *server CPU %*: CPU time (user + system, from /proc) of the system's own processes in the measured window, in % of one core; *per core*: deliveries/s ÷ that CPU in cores. Redis's (NATS's) CPU is reported apart, and added in *per core, Redis included*.",
    "- *p50/p99*: end-to-end latency from the publisher's send time to the subscriber's read, corrected for coordinated omission.",
    `- *bench CPU %*: the load generator's processes, each in % of a core; * marks ≥ ${CLIENT_BOUND_PERCENT}%, where the bench, not only the server, may set the knee.`,
    ...run.notes.map((n) => `- ${n}`),
    "",
  ];
  lines.push(
    ...section(
      "### Server CPU per delivery at the same rates",
      costByRateMarkdownTable(run.systems),
      `Each system's CPU µs per delivery at each publication rate it sustained (– where it did not). ${RATE_EFFECT}; this table compares systems at the same load. One step's figure moves by about ±20 % on this machine.`,
    ),
    ...section(
      "## Scaling out on Redis",
      scaleOutMarkdownTable(run.systems),
      "Every publication goes through Redis, on one node too (the redis engine delivers what it hears back from Redis). Publications enter at node 1 and the subscribers alternate over every node, so on N nodes (N − 1)/N of the deliveries are made by a node other than the publisher's. On one machine the nodes, Redis and the bench share the same cores: the ratios read as the cost of scaling out, not as the gain of more machines.",
    ),
    ...section(
      "### The same deployments at the same rates",
      scaleOutCostMarkdownTable(run.systems),
      `The nodes' CPU per delivery at each rate every deployment above sustained. ${RATE_EFFECT}; this table does not.`,
    ),
  );
  lines.push("## Every step", "");
  for (const s of run.systems)
    lines.push(
      `### ${s.label}`,
      "",
      s.design,
      "",
      s.steps.length === 0 ? `No step ran: ${s.error}` : stepsMarkdownTable(s),
      "",
    );
  return lines.join("\n");
}

/** Distinct line colours, one per system of the full sweep. */
const PALETTE = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
  "#bcbd22",
  "#393b79",
  "#637939",
  "#843c39",
  "#7b4173",
  "#3182bd",
];

/**
 * One system's ladder as chart points: for each rate it ran, the try that counted (the last one
 * at that rate), at x = the deliveries/s offered (rate × subscribers); steps that could not be
 * judged are left out, as is a value the step did not measure.
 */
export function ladderPoints(s, connections, value) {
  const counted = new Map();
  for (const step of s.steps) if (!step.stopped && !step.interrupted) counted.set(step.rate, step);
  return [...counted.values()]
    .sort((a, b) => a.rate - b.rate)
    .map((step) => ({ x: step.rate * connections, y: value(step) ?? undefined }))
    .filter((p) => p.y !== undefined);
}

/** The two charts of the HTML report: p99 against the offered rate (with the bound), and server CPU per delivery. */
export function kneeCharts(run) {
  const { connections, p99BoundMs } = run.options;
  const series = (value) =>
    run.systems.map((s, i) => ({
      key: s.key,
      name: s.label,
      color: PALETTE[i % PALETTE.length],
      points: ladderPoints(s, connections, value),
    }));
  // Past its knee a system's p99 runs to seconds; drawn to scale, that flattens every knee. So
  // the chart stops at twice the bound, and a point above it is drawn at the top.
  const top = 2 * p99BoundMs;
  const p99 = series((step) => (step.p99Ms === undefined ? undefined : Math.min(step.p99Ms, top)));
  const xs = p99.flatMap((s) => s.points.map((p) => p.x));
  const bound = {
    key: "bound",
    name: `p99 bound (${p99BoundMs} ms)`,
    color: "#999",
    points:
      xs.length === 0
        ? []
        : [
            { x: Math.min(...xs), y: p99BoundMs },
            { x: Math.max(...xs), y: p99BoundMs },
          ],
  };
  return [
    lineChart({
      key: "p99-by-rate",
      title: `p99 latency at each rate (above ${top.toLocaleString("en-US")} ms: drawn at ${top.toLocaleString("en-US")})`,
      xLabel: "deliveries/s offered",
      yLabel: "p99 ms",
      series: [...p99, bound],
    }),
    lineChart({
      key: "cpu-by-rate",
      title: "Server CPU per delivery at each rate",
      xLabel: "deliveries/s offered",
      yLabel: "µs per delivery",
      series: series((step) => step.cpuUsPerDelivery),
    }),
  ];
}

/** The results page as HTML: the knee table and the ladders charted; every step stays in the Markdown beside it. */
export function kneeHtmlReport(run) {
  const m = run.machine;
  const head = KNEE_COLUMNS.map(([, title]) => `<th>${escapeHtml(title)}</th>`).join("");
  const rows = kneeRows(run.systems)
    .map((r) => `<tr>${KNEE_COLUMNS.map(([k]) => `<td>${escapeHtml(r[k])}</td>`).join("")}</tr>`)
    .join("\n");
  const title = `Throughput knee, ${run.startedAt.slice(0, 10)}${run.label === undefined ? "" : ` (${run.label})`}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{font-weight:600}svg{display:block;margin:1.5em 0}.muted{color:#777}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p class="muted">${escapeHtml(run.startedAt)} → ${escapeHtml(run.finishedAt)}${run.interrupted ? " (interrupted)" : ""}<br>${escapeHtml(m === undefined ? "machine not recorded" : `${m.cpus} × ${m.cpuModel}, Node.js ${m.node}, ${m.os}; servers, Redis and the bench on the same cores`)}<br>${escapeHtml(`${run.options.connections.toLocaleString("en-US")} subscribers on one channel; a step is sustained at p99 ≤ ${run.options.p99BoundMs} ms with nothing lost, duplicated or out of order`)}</p>
<h2>Knee per system</h2>
<table>
<tr>${head}</tr>
${rows}
</table>
<h2>Every ladder</h2>
<p class="muted">One point per rate tried: the try that counted. A line past the bound is where its system's ladder ended.</p>
${kneeCharts(run).join("\n")}
<p class="muted">Every step, the scale-out tables and the method: the .md beside this file; every raw result: the .json.</p>
</body></html>
`;
}
