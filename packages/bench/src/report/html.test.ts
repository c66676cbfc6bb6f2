import { describe, expect, it } from "vitest";
import { resolveBenchOptions, type Scenario } from "../options.js";
import { htmlReport } from "./html.js";
import type { BenchResult, PhaseSpan, TimelinePoint } from "./result.js";

const summary = { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0 };

/** A fanout run's result as the coordinator builds it: 200 subscribers, 20 publications/s, 2 s of warm-up, 4 measured. */
function result(over: { scenario?: Scenario; phases?: PhaseSpan[]; interruptReason?: string } = {}): BenchResult {
  const scenario = over.scenario ?? "fanout";
  const { apiKey: _apiKey, ...options } = resolveBenchOptions({ scenario });
  const phases = over.phases ?? [
    { phase: "ramp", fromS: 0, toS: 0.4 },
    { phase: "settle", fromS: 0.4, toS: 1.4 },
    { phase: "warmup", fromS: 1.4, toS: 3.6 },
    { phase: "measure", fromS: 3.6, toS: 7.6 },
    { phase: "drain", fromS: 7.6, toS: 8.5 },
  ];
  const timeline: TimelinePoint[] = [1, 2, 3, 4, 5, 6, 7, 8].map((tS) => {
    const phase = [...phases].reverse().find((p) => p.fromS <= tS)?.phase ?? "ramp";
    const publishing = tS >= 2 && tS <= 8;
    const point: TimelinePoint = {
      tS,
      phase,
      connections: 201,
      publishedPerS: publishing ? 20 : 0,
      deliveriesPerS: publishing ? 4000 : 0,
      failed: 0,
      dropped: 0,
    };
    if (tS >= 4 && tS <= 8) Object.assign(point, { p50Ms: 1.5, p99Ms: 4 + tS, maxMs: 30 + tS });
    return point;
  });
  return {
    tool: "hubcast-bench",
    formatVersion: 1,
    scenario,
    startedAt: "2026-12-06T21:00:00.000Z",
    finishedAt: "2026-12-06T21:00:09.000Z",
    interrupted: over.interruptReason !== undefined,
    ...(over.interruptReason === undefined ? {} : { interruptReason: over.interruptReason }),
    options,
    machine: { cpuModel: "test cpu", cpus: 2, memoryBytes: 2 ** 34, node: "v20.0.0", os: "Linux" },
    connections: {
      requested: 200,
      publishers: 1,
      ready: 201,
      failed: 0,
      dropped: 0,
      retries: 0,
      failures: {},
      drops: {},
      rampSeconds: 0.4,
      connectsPerS: 500,
      connectTime: summary,
    },
    messages: {
      published: 120,
      measuredPublished: 80,
      publishErrors: 0,
      publishFailures: {},
      deliveries: 24_000,
      measuredDeliveries: 16_000,
      expectedDeliveries: 24_000,
      lost: 0,
      duplicates: 0,
      outOfOrder: 0,
      gaps: 0,
    },
    rates: { measuredSeconds: 4, publishedPerS: 20, deliveriesPerS: 4000 },
    latency: {
      ...summary,
      count: 16_000,
      p50Ms: 1.5,
      maxMs: 38,
      corrected: true,
      uncorrected: summary,
      curve: [
        { percentile: 0, ms: 0.5 },
        { percentile: 50, ms: 1.5 },
        { percentile: 99, ms: 12 },
        { percentile: 100, ms: 38 },
      ],
    },
    server: { targets: [], cpuMicrosPerDelivery: undefined, rssBytesPerConnection: undefined },
    clients: { processes: 1, cpuPercentPerProcess: undefined, cpuMicrosPerDelivery: undefined },
    timeline,
    phases,
  };
}

/** The `<svg>` of the chart with `key`, or undefined. */
const chart = (html: string, key: string): string | undefined =>
  new RegExp(`<svg [^>]*data-chart="${key}"[^>]*>.*?</svg>`, "s").exec(html)?.[0];

/** The y axis tick labels of a chart, as numbers. */
const yTicks = (svg: string): number[] =>
  [...(/<g data-axis="y">(.*?)<\/g>/.exec(svg)?.[1] ?? "").matchAll(/<text[^>]*>([\d.]+k?)<\/text>/g)].map((m) =>
    (m[1] ?? "").endsWith("k") ? Number((m[1] ?? "").slice(0, -1)) * 1000 : Number(m[1]),
  );

/** The points a series' path visits. */
const pathPoints = (svg: string, series: string): number =>
  (new RegExp(`<path data-series="${series}" d="([^"]*)"`).exec(svg)?.[1] ?? "").match(/[ML]/g)?.length ?? 0;

const TIME_CHARTS = ["latency-over-time", "deliveries", "publications", "connections"];

describe("htmlReport", () => {
  it("holds every chart of a publishing run, self-contained", () => {
    const html = htmlReport(result());
    for (const key of ["latency-percentiles", ...TIME_CHARTS]) expect(chart(html, key), key).toBeDefined();
    expect(html).not.toContain('data-empty="true"');
    expect(html).not.toMatch(/<script|<link|src=|href=/);
  });

  it("draws publications/s on an axis of its own, scaled to the publications, not to the deliveries", () => {
    const html = htmlReport(result());
    const publications = chart(html, "publications") ?? "";
    expect(Math.max(...yTicks(publications))).toBe(20);
    expect(pathPoints(publications, "publications")).toBe(8);
    expect(publications).not.toContain('data-series="deliveries"');
    const deliveries = chart(html, "deliveries") ?? "";
    expect(Math.max(...yTicks(deliveries))).toBe(4000);
    expect(deliveries).not.toContain('data-series="publications"');
  });

  it("draws p50, p99 and max latency per interval, in ms, where there were deliveries", () => {
    const svg = chart(htmlReport(result()), "latency-over-time") ?? "";
    for (const series of ["p50", "p99", "max"]) expect(pathPoints(svg, series), series).toBe(5);
    expect(Math.max(...yTicks(svg))).toBe(40); // max 38 ms
    expect(svg).toMatch(/<text[^>]*>ms<\/text>/);
  });

  it("shades the phases on every time chart, with a legend", () => {
    const html = htmlReport(result());
    for (const key of TIME_CHARTS) {
      const svg = chart(html, key) ?? "";
      for (const phase of ["ramp", "settle", "warmup", "measure", "drain"])
        expect(svg, `${key} ${phase}`).toContain(`data-band="${phase}"`);
      const legend = /<g data-legend="[^"]*">(.*?)<\/g>/.exec(svg)?.[1] ?? "";
      for (const text of ["connecting (ramp)", "warm-up", "measured window", "drain"])
        expect(legend, `${key} ${text}`).toContain(`>${text}</text>`);
    }
    // The percentile curve has no time axis, so no phases.
    expect(chart(html, "latency-percentiles")).not.toContain("data-band");
  });

  it("marks where a run was stopped early, and why", () => {
    const phases: PhaseSpan[] = [
      { phase: "ramp", fromS: 0, toS: 0.4 },
      { phase: "settle", fromS: 0.4, toS: 1.4 },
      { phase: "warmup", fromS: 1.4, toS: 3.6 },
      { phase: "measure", fromS: 3.6, toS: 5.2 },
      { phase: "stopped", fromS: 5.2, toS: 8.5 },
    ];
    const html = htmlReport(result({ phases, interruptReason: "interrupted" }));
    for (const key of TIME_CHARTS) {
      const svg = chart(html, key) ?? "";
      expect(svg, key).toContain('data-band="stopped"');
      expect(svg, key).toContain(">stopped early (Ctrl-C)</text>");
      expect(svg, key).not.toContain('data-band="drain"');
    }
    const failed = htmlReport(result({ phases, interruptReason: "worker 0 exited (SIGKILL) before the run ended" }));
    expect(failed).toContain(">stopped early (worker 0 exited (SIGKILL) before the run ended)</text>");
  });

  it("shows a connect run's connections with the held window marked, and no publishing charts", () => {
    const phases: PhaseSpan[] = [
      { phase: "ramp", fromS: 0, toS: 1 },
      { phase: "settle", fromS: 1, toS: 2 },
      { phase: "hold", fromS: 2, toS: 8 },
    ];
    const html = htmlReport(result({ scenario: "connect", phases }));
    const connections = chart(html, "connections") ?? "";
    expect(connections).toContain('data-band="hold"');
    expect(connections).toContain(">held (measured window)</text>");
    for (const key of ["latency-percentiles", "latency-over-time", "deliveries", "publications"])
      expect(chart(html, key), key).toBeUndefined();
  });
});
