import { cpus, release, totalmem, type as osType } from "node:os";
import type { Histogram } from "../histogram.js";
import type { ReasonCounts } from "../ipc.js";
import type { ResolvedBenchOptions, Scenario } from "../options.js";
import type { ServerSample } from "../coordinator/server-stats.js";

/** Latency percentiles, in milliseconds. */
export interface LatencySummary {
  /** Values recorded (with the correction: synthetic ones included). */
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

/** The machine the clients ran on. */
export interface MachineInfo {
  cpuModel: string;
  cpus: number;
  memoryBytes: number;
  node: string;
  os: string;
}

/** One server's cost, from its /metrics or /proc. */
export interface TargetStats {
  /** Metrics URL, or `pid:<n>`. */
  name: string;
  kind: "metrics" | "proc";
  /** Before any bench connection. */
  baseline: ServerSample;
  /** After every connection was ready, and a second's pause. */
  connected: ServerSample | undefined;
  /** Start and end of the measured window. */
  measureStart: ServerSample | undefined;
  measureEnd: ServerSample | undefined;
  /** Server CPU time spent in the measured window, µs. */
  cpuMicros: number | undefined;
  /** Server CPU time per delivered publication in the measured window, µs. */
  cpuMicrosPerDelivery: number | undefined;
  /** The part of it in the kernel (system time), µs; undefined when the source does not split CPU time. */
  systemCpuMicrosPerDelivery: number | undefined;
  /** Server CPU use over the measured window, in % of one core. */
  cpuPercent: number | undefined;
  /** Growth of the server's RSS from baseline to connected, in bytes, and the connections added meanwhile. */
  rssGrowthBytes: number | undefined;
  connectionsAdded: number | undefined;
  /** rssGrowthBytes / connectionsAdded. */
  rssBytesPerConnection: number | undefined;
  /** Deliveries the CPU was divided by, and where they were counted: the server's counter or the clients'. */
  deliveries: number | undefined;
  deliveriesCountedBy: "server" | "clients" | undefined;
  /** Readings that failed. */
  errors: string[];
}

/**
 * The phases of a run, in order: `ramp` (connecting), `settle` (a second's pause, then a
 * server sample), then `hold` (connect: the held, measured window) or `warmup`, `measure`
 * (the measured window) and `drain` (waiting for the last deliveries); `stopped` from the
 * moment a run is stopped early (Ctrl-C, a failed worker, a stalled ramp) to its end.
 */
export const RunPhase = {
  ramp: "ramp",
  settle: "settle",
  warmup: "warmup",
  measure: "measure",
  drain: "drain",
  hold: "hold",
  stopped: "stopped",
} as const;
export type RunPhase = (typeof RunPhase)[keyof typeof RunPhase];

/** One stretch of the run spent in one phase, in seconds since the run started (the timeline's clock). */
export interface PhaseSpan {
  phase: RunPhase;
  fromS: number;
  toS: number;
}

/** One sampling interval (about a second) of the run. */
export interface TimelinePoint {
  /** Seconds since the run started, at the end of the interval. */
  tS: number;
  /** The phase at the end of the interval (see {@link BenchResult.phases} for the exact edges). */
  phase: RunPhase;
  /** Connections ready (publishers included). */
  connections: number;
  publishedPerS: number;
  deliveriesPerS: number;
  /**
   * Latency of the deliveries recorded in this interval (measured window only, CO-corrected
   * at a fixed rate), in ms; absent when none.
   */
  p50Ms?: number;
  p99Ms?: number;
  maxMs?: number;
  failed: number;
  dropped: number;
}

/** Everything a run measured; written as result.json. */
export interface BenchResult {
  tool: "hubcast-bench";
  formatVersion: 1;
  scenario: Scenario;
  startedAt: string;
  finishedAt: string;
  /** True when stopped early (Ctrl-C, or a worker failure); the numbers cover what ran. */
  interrupted: boolean;
  /** Why it stopped early. */
  interruptReason?: string;
  /** The options in force (the API key and the Pusher app's secret left out). */
  options: Omit<ResolvedBenchOptions, "apiKey" | "pusherApp"> & { pusherApp?: { id: string; key: string } };
  machine: MachineInfo;
  connections: {
    requested: number;
    publishers: number;
    ready: number;
    failed: number;
    dropped: number;
    retries: number;
    failures: ReasonCounts;
    drops: ReasonCounts;
    /** From the first connection started until every one was ready or failed. */
    rampSeconds: number;
    connectsPerS: number;
    /** Start of a connection to its being subscribed (or connected, when it subscribes to nothing). */
    connectTime: LatencySummary;
  };
  messages: {
    published: number;
    measuredPublished: number;
    publishErrors: number;
    publishFailures: ReasonCounts;
    deliveries: number;
    measuredDeliveries: number;
    /** Σ over channels of publications × subscribers ready when publishing began. */
    expectedDeliveries: number;
    /** Expected deliveries that never arrived (expected − (deliveries − duplicates)), never below 0. */
    lost: number;
    duplicates: number;
    outOfOrder: number;
    /** Sequence gaps seen by subscribers (a subset of lost, unless filled late). */
    gaps: number;
  };
  rates: {
    measuredSeconds: number;
    publishedPerS: number;
    deliveriesPerS: number;
  };
  latency: LatencySummary & {
    /** Whether the coordinated-omission correction applied (fixed-rate runs). */
    corrected: boolean;
    uncorrected: LatencySummary;
    /** Percentile curve of the corrected latencies. */
    curve: { percentile: number; ms: number }[];
  };
  server: {
    targets: TargetStats[];
    /** All targets together. */
    cpuMicrosPerDelivery: number | undefined;
    rssBytesPerConnection: number | undefined;
  };
  /** The bench's own cost over the measured window: near 100% per process means the clients, not the server, set the pace. */
  clients: {
    processes: number;
    cpuPercentPerProcess: number | undefined;
    cpuMicrosPerDelivery: number | undefined;
  };
  /** One point per sampling interval, for the whole run. */
  timeline: TimelinePoint[];
  /** When each phase began and ended, in order; a run stopped early ends with `stopped`. */
  phases: PhaseSpan[];
}

const ms = (us: number): number => Math.round(us) / 1000;

/** Percentiles of a histogram of microseconds, in milliseconds. */
export function latencySummary(h: Histogram): LatencySummary {
  return {
    count: h.total,
    p50Ms: ms(h.valueAtPercentile(50)),
    p90Ms: ms(h.valueAtPercentile(90)),
    p99Ms: ms(h.valueAtPercentile(99)),
    p999Ms: ms(h.valueAtPercentile(99.9)),
    maxMs: ms(h.max),
    meanMs: ms(h.mean()),
  };
}

/** This machine, as the result describes it. */
export function machineInfo(): MachineInfo {
  const cpuList = cpus();
  return {
    cpuModel: cpuList[0]?.model ?? "unknown",
    cpus: cpuList.length,
    memoryBytes: totalmem(),
    node: process.version,
    os: `${osType()} ${release()} ${process.arch}`,
  };
}

/**
 * Server cost of one target. CPU per delivery divides the CPU time spent in the measured
 * window by the publications the server sent in it (its own counter when it has one,
 * otherwise what the clients received). RSS per connection divides the RSS growth from
 * before the ramp to after it by the connections added.
 */
export function targetStats(
  source: { name: string; kind: "metrics" | "proc" },
  samples: { baseline: ServerSample; connected?: ServerSample; measureStart?: ServerSample; measureEnd?: ServerSample },
  clients: { connectionsAdded: number; measuredDeliveries: number; targets: number },
): TargetStats {
  const { baseline, connected, measureStart, measureEnd } = samples;
  const errors = [baseline, connected, measureStart, measureEnd].flatMap((s) =>
    s?.error === undefined ? [] : [s.error],
  );
  const stats: TargetStats = {
    name: source.name,
    kind: source.kind,
    baseline,
    connected,
    measureStart,
    measureEnd,
    cpuMicros: undefined,
    cpuMicrosPerDelivery: undefined,
    systemCpuMicrosPerDelivery: undefined,
    cpuPercent: undefined,
    rssGrowthBytes: undefined,
    connectionsAdded: undefined,
    rssBytesPerConnection: undefined,
    deliveries: undefined,
    deliveriesCountedBy: undefined,
    errors: [...new Set(errors)],
  };
  if (measureStart?.cpuSeconds !== undefined && measureEnd?.cpuSeconds !== undefined) {
    const cpuUs = (measureEnd.cpuSeconds - measureStart.cpuSeconds) * 1e6;
    stats.cpuMicros = Math.round(cpuUs);
    const wallUs = (measureEnd.atMs - measureStart.atMs) * 1000;
    if (wallUs > 0) stats.cpuPercent = Math.round((cpuUs / wallUs) * 1000) / 10;
    const serverCount =
      measureStart.publicationsSent !== undefined && measureEnd.publicationsSent !== undefined
        ? measureEnd.publicationsSent - measureStart.publicationsSent
        : undefined;
    // Without the server's own count, a target gets its share of what the clients received.
    stats.deliveries = serverCount ?? Math.round(clients.measuredDeliveries / clients.targets);
    stats.deliveriesCountedBy = serverCount === undefined ? "clients" : "server";
    if (stats.deliveries > 0) stats.cpuMicrosPerDelivery = Math.round((cpuUs / stats.deliveries) * 1000) / 1000;
    if (
      stats.deliveries > 0 &&
      measureStart.systemCpuSeconds !== undefined &&
      measureEnd.systemCpuSeconds !== undefined
    ) {
      const systemUs = (measureEnd.systemCpuSeconds - measureStart.systemCpuSeconds) * 1e6;
      stats.systemCpuMicrosPerDelivery = Math.round((systemUs / stats.deliveries) * 1000) / 1000;
    }
  }
  if (baseline.rssBytes !== undefined && connected?.rssBytes !== undefined) {
    const added =
      baseline.connections !== undefined && connected.connections !== undefined
        ? connected.connections - baseline.connections
        : Math.round(clients.connectionsAdded / clients.targets);
    stats.rssGrowthBytes = connected.rssBytes - baseline.rssBytes;
    stats.connectionsAdded = added;
    if (added > 0) stats.rssBytesPerConnection = Math.round(stats.rssGrowthBytes / added);
  }
  return stats;
}

/** Totals over targets: Σ CPU / Σ deliveries (a publishing node with no subscribers adds CPU, not deliveries), Σ RSS growth / Σ connections. */
export function overallServerCost(targets: readonly TargetStats[]): {
  cpuMicrosPerDelivery: number | undefined;
  rssBytesPerConnection: number | undefined;
} {
  let cpuUs = 0;
  let deliveries = 0;
  let rss = 0;
  let conns = 0;
  for (const t of targets) {
    cpuUs += t.cpuMicros ?? 0;
    deliveries += t.deliveries ?? 0;
    rss += t.rssGrowthBytes ?? 0;
    conns += t.connectionsAdded ?? 0;
  }
  return {
    cpuMicrosPerDelivery: deliveries > 0 && cpuUs > 0 ? Math.round((cpuUs / deliveries) * 1000) / 1000 : undefined,
    rssBytesPerConnection: conns > 0 ? Math.round(rss / conns) : undefined,
  };
}
