import { reportCharts } from "./charts.js";
import type { BenchResult } from "./result.js";
import { escapeHtml } from "./svg.js";

const n = (v: number): string => Math.round(v).toLocaleString("en-US");
const msText = (v: number): string => `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ms`;
const bytes = (v: number): string =>
  Math.abs(v) >= 1024 * 1024
    ? `${(v / 1024 / 1024).toFixed(1)} MiB`
    : Math.abs(v) >= 1024
      ? `${(v / 1024).toFixed(1)} KiB`
      : `${v} B`;

/** Which connections went over which transport (results written before `--transport` existed were WebSocket). */
function transportText(r: BenchResult): string {
  const transport = r.options.transport ?? "websocket";
  if (transport === "websocket") return "websocket";
  if (r.scenario === "connect") return `${transport} (every connection)`;
  if (r.scenario === "chat") return `${transport} (members receive on the stream and publish by POST)`;
  return `${transport} (subscribers; publishers on ${r.options.apiUrl === undefined ? "WebSocket" : "the server API"})`;
}

/** The result's headline numbers as label/value rows; the summary and the HTML table both use them. */
export function summaryRows(r: BenchResult): [string, string][] {
  const rows: [string, string][] = [];
  // Results written before --protocol pusher have no pusherApp; hubcast's own protocol goes without saying.
  const app = r.options.pusherApp;
  if (r.options.protocol !== "hubcast")
    rows.push([
      "protocol",
      app === undefined ? r.options.protocol : `${r.options.protocol} (app ${app.id}, key ${app.key})`,
    ]);
  rows.push(["transport", transportText(r)]);
  const c = r.connections;
  rows.push([
    "connections ready",
    `${n(c.ready)} of ${n(c.requested + c.publishers)} (${n(c.failed)} failed, ${n(c.dropped)} dropped, ${n(c.retries)} retried)`,
  ]);
  rows.push([
    "connection ramp",
    `${c.rampSeconds.toFixed(1)} s, ${n(c.connectsPerS)}/s; connect time p50 ${msText(c.connectTime.p50Ms)}, p99 ${msText(c.connectTime.p99Ms)}`,
  ]);
  for (const [reason, count] of Object.entries(c.failures)) rows.push(["  failed", `${n(count)}× ${reason}`]);
  for (const [reason, count] of Object.entries(c.drops)) rows.push(["  dropped", `${n(count)}× ${reason}`]);
  if (r.scenario !== "connect") {
    const m = r.messages;
    rows.push([
      "published",
      `${n(m.published)} (${n(r.rates.publishedPerS)}/s measured, ${n(m.publishErrors)} errors)`,
    ]);
    for (const [reason, count] of Object.entries(m.publishFailures))
      rows.push(["  publish error", `${n(count)}× ${reason}`]);
    rows.push([
      "deliveries",
      `${n(m.deliveries)} of ${n(m.expectedDeliveries)} expected; ${n(r.rates.deliveriesPerS)}/s measured`,
    ]);
    rows.push(["lost / duplicated / out of order", `${n(m.lost)} / ${n(m.duplicates)} / ${n(m.outOfOrder)}`]);
    const l = r.latency;
    rows.push([
      `latency${l.corrected ? " (CO-corrected)" : ""}`,
      `p50 ${msText(l.p50Ms)}  p90 ${msText(l.p90Ms)}  p99 ${msText(l.p99Ms)}  p99.9 ${msText(l.p999Ms)}  max ${msText(l.maxMs)}`,
    ]);
    if (l.corrected)
      rows.push([
        "latency (uncorrected)",
        `p50 ${msText(l.uncorrected.p50Ms)}  p99 ${msText(l.uncorrected.p99Ms)}  max ${msText(l.uncorrected.maxMs)}`,
      ]);
  }
  for (const t of r.server.targets) {
    const parts: string[] = [];
    if (t.cpuMicrosPerDelivery !== undefined)
      parts.push(
        `CPU ${t.cpuMicrosPerDelivery.toFixed(2)} µs/delivery (${t.deliveriesCountedBy} count${t.systemCpuMicrosPerDelivery === undefined ? "" : `; ${t.systemCpuMicrosPerDelivery.toFixed(2)} of it in the kernel`})`,
      );
    if (t.cpuPercent !== undefined) parts.push(`CPU ${t.cpuPercent}% of a core`);
    if (t.rssBytesPerConnection !== undefined)
      parts.push(`RSS ${t.rssBytesPerConnection < 0 ? "" : "+"}${bytes(t.rssBytesPerConnection)}/connection`);
    if (t.connected?.rssBytes !== undefined) parts.push(`RSS ${bytes(t.connected.rssBytes)}`);
    if (t.errors.length > 0) parts.push(`unavailable: ${t.errors[0]}`);
    rows.push([`server ${t.name}`, parts.join("; ")]);
  }
  const cl = r.clients;
  if (cl.cpuPercentPerProcess !== undefined) {
    const busy =
      cl.cpuPercentPerProcess > 80 ? " (busy: the clients may set the pace; add --processes or client machines)" : "";
    const perDelivery =
      cl.cpuMicrosPerDelivery === undefined ? "" : `, ${cl.cpuMicrosPerDelivery.toFixed(2)} µs/delivery`;
    rows.push([
      "bench clients",
      `${cl.processes} process${cl.processes === 1 ? "" : "es"}, CPU ${cl.cpuPercentPerProcess}% of a core each${perDelivery}${busy}`,
    ]);
  }
  if (r.server.targets.length > 1) {
    const s = r.server;
    rows.push([
      "servers in all",
      `CPU ${s.cpuMicrosPerDelivery?.toFixed(2) ?? "-"} µs/delivery; RSS +${s.rssBytesPerConnection === undefined ? "-" : bytes(s.rssBytesPerConnection)}/connection`,
    ]);
  }
  if (r.interrupted) rows.push(["stopped early", r.interruptReason ?? "interrupted"]);
  return rows;
}

/** The plain-text summary printed after a run. */
export function textSummary(r: BenchResult): string {
  const rows = summaryRows(r);
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `hubcast bench ${r.scenario}: ${r.options.urls.join(", ")}`,
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
  ].join("\n");
}

/** A self-contained HTML report: the numbers table, inline SVG charts (see charts.ts) and the options; no scripts. */
export function htmlReport(r: BenchResult): string {
  const rows = summaryRows(r)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
    .join("\n");
  const machine = `${r.machine.cpus} × ${r.machine.cpuModel}, ${bytes(r.machine.memoryBytes)}, Node ${r.machine.node}, ${r.machine.os}`;
  const options = Object.entries(r.options)
    .map(
      ([k, v]) =>
        `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v === undefined ? "(none)" : Array.isArray(v) ? (v.length === 0 ? "(none)" : v.join(", ")) : String(v))}</td></tr>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hubcast bench ${escapeHtml(r.scenario)} ${escapeHtml(r.startedAt)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:760px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{text-align:left;padding:3px 10px;border-bottom:1px solid #eee;vertical-align:top}
th{font-weight:600;white-space:nowrap}svg{display:block;margin:1.5em 0}.muted{color:#777}
</style></head><body>
<h1>hubcast bench: ${escapeHtml(r.scenario)}</h1>
<p class="muted">${escapeHtml(r.startedAt)} → ${escapeHtml(r.finishedAt)}<br>${escapeHtml(r.options.urls.join(", "))}<br>clients: ${escapeHtml(machine)}</p>
<h2>Numbers</h2>
<table>
${rows}
</table>
<h2>Charts</h2>
<p class="muted">Time charts are shaded by phase; latency is recorded for publications sent in the measured window.</p>
${reportCharts(r).join("\n")}
<h2>Options</h2>
<table>
${options}
</table>
<p class="muted">What the numbers mean: docs/bench.md. The full data is in result.json beside this file.</p>
</body></html>
`;
}
