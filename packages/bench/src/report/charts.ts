import type { BenchResult, RunPhase, TimelinePoint } from "./result.js";
import { type Band, lineChart, type Series } from "./svg.js";

/** How each phase is shaded on the time charts, and named in their legends. */
export const PHASE_STYLE: Readonly<Record<RunPhase, { label: string; color: string }>> = {
  ramp: { label: "connecting (ramp)", color: "#e4ecf7" },
  settle: { label: "settling", color: "#efefef" },
  warmup: { label: "warm-up", color: "#fff1c9" },
  measure: { label: "measured window", color: "#dff2e3" },
  hold: { label: "held (measured window)", color: "#dff2e3" },
  drain: { label: "drain", color: "#ece3f5" },
  stopped: { label: "stopped early", color: "#f9dcd9" },
};

/** The run's phases as shaded bands; the `stopped` band says why the run stopped early. */
export function phaseBands(r: Pick<BenchResult, "phases" | "interruptReason">): Band[] {
  return r.phases
    .filter((p) => p.toS > p.fromS)
    .map((p) => {
      const style = PHASE_STYLE[p.phase];
      const why = r.interruptReason === "interrupted" ? "Ctrl-C" : r.interruptReason;
      const label = p.phase === "stopped" && why !== undefined ? `${style.label} (${why})` : style.label;
      return { key: p.phase, label, color: style.color, fromX: p.fromS, toX: p.toS };
    });
}

const over = (timeline: readonly TimelinePoint[], y: (p: TimelinePoint) => number | undefined): Series["points"] =>
  timeline.map((p) => ({ x: p.tS, y: y(p) }));

/** Corrected latency by percentile, on the nines scale. */
export function latencyCurveChart(r: BenchResult): string {
  return lineChart({
    key: "latency-percentiles",
    title: "Latency by percentile",
    xLabel: "percentile",
    yLabel: "ms",
    xPercentile: true,
    series: [
      {
        key: "latency",
        name: r.latency.corrected ? "end-to-end (CO-corrected)" : "end-to-end",
        color: "#1f6fd1",
        points: r.latency.curve.map((p) => ({ x: p.percentile, y: p.ms })),
      },
    ],
  });
}

/** p50, p99 and max latency of each sampling interval over time (deliveries of the measured window). */
export function latencyOverTimeChart(r: BenchResult): string {
  return lineChart({
    key: "latency-over-time",
    title: "Latency over time (per second)",
    xLabel: "seconds since start",
    yLabel: "ms",
    bands: phaseBands(r),
    series: [
      { key: "p50", name: "p50", color: "#1f6fd1", points: over(r.timeline, (p) => p.p50Ms) },
      { key: "p99", name: "p99", color: "#d17a1f", points: over(r.timeline, (p) => p.p99Ms) },
      { key: "max", name: "max", color: "#c0392b", points: over(r.timeline, (p) => p.maxMs) },
    ],
  });
}

/** Deliveries per second over time: the subscribers' side, publications × fan-out. */
export function deliveriesChart(r: BenchResult): string {
  return lineChart({
    key: "deliveries",
    title: "Deliveries per second",
    xLabel: "seconds since start",
    yLabel: "deliveries/s",
    bands: phaseBands(r),
    series: [
      { key: "deliveries", name: "deliveries/s", color: "#1f6fd1", points: over(r.timeline, (p) => p.deliveriesPerS) },
    ],
  });
}

/** Publications per second over time, on an axis of its own (deliveries are fan-out times larger). */
export function publicationsChart(r: BenchResult): string {
  return lineChart({
    key: "publications",
    title: "Publications per second",
    xLabel: "seconds since start",
    yLabel: "publications/s",
    bands: phaseBands(r),
    series: [
      {
        key: "publications",
        name: "publications/s",
        color: "#d17a1f",
        points: over(r.timeline, (p) => p.publishedPerS),
      },
    ],
  });
}

/** Connections ready, and failed + dropped so far, over time. */
export function connectionsChart(r: BenchResult): string {
  return lineChart({
    key: "connections",
    title: "Connections over time",
    xLabel: "seconds since start",
    yLabel: "connections",
    bands: phaseBands(r),
    series: [
      { key: "ready", name: "ready", color: "#2c9c4a", points: over(r.timeline, (p) => p.connections) },
      {
        key: "failed",
        name: "failed + dropped",
        color: "#c0392b",
        points: over(r.timeline, (p) => p.failed + p.dropped),
      },
    ],
  });
}

/** Every chart of the report, in order; `connect` publishes nothing, so it gets the connections chart alone. */
export function reportCharts(r: BenchResult): string[] {
  if (r.scenario === "connect") return [connectionsChart(r)];
  return [latencyCurveChart(r), latencyOverTimeChart(r), deliveriesChart(r), publicationsChart(r), connectionsChart(r)];
}
