import { Histogram } from "../histogram.js";
import type { WorkerFinal, WorkerPlan } from "../ipc.js";
import { channelName, layoutOf, probeChannelName, publishOffsetUs, publisherCount } from "../layout.js";
import type { Layout } from "../layout.js";
import { Scenario } from "../options.js";
import type { ResolvedBenchOptions } from "../options.js";
import { adapterByName } from "../peers/index.js";
import type { ProtocolAdapter } from "../peers/index.js";
import type { BenchResult, TargetStats } from "../report/result.js";
import { latencySummary, machineInfo, overallServerCost, targetStats } from "../report/result.js";
import { checkClientLimits } from "./limits.js";
import { Monitor } from "./monitor.js";
import { RunPhases } from "./phases.js";
import type { ClientSample, RunSamples } from "./phases.js";
import { probe, probeApi, probeSteps } from "./preflight.js";
import { ProgressLine } from "./progress.js";
import type { ProgressOutput } from "./progress.js";
import { sampleAll, statsSources } from "./server-stats.js";
import type { ServerSample } from "./server-stats.js";
import { WorkerPool } from "./workers.js";

/** A run that could not go on: no connection succeeded, or a worker reported a fatal problem. */
export class BenchRunError extends Error {
  override readonly name = "BenchRunError";
  readonly code = "BENCH_RUN";
}

/** Where a run reports, and how it can be stopped early. */
export interface RunIo {
  progress: ProgressOutput;
  /** Stops the run early; what ran so far is still reported. */
  signal?: AbortSignal;
  /** Worker entry override (tests). */
  workerEntry?: URL;
}

async function preflight(o: ResolvedBenchOptions, layout: Layout, adapter: ProtocolAdapter): Promise<void> {
  const subscribeTo = o.scenario === Scenario.connect && o.channels === 0 ? undefined : channelName(layout, 0);
  const probeChannel = probeChannelName(layout);
  const clientPublish = o.scenario !== Scenario.connect && o.apiUrl === undefined;
  const checks = layout.subscriberUrls.map((url) =>
    probe(url, adapter, probeSteps(adapter, subscribeTo, undefined), undefined, o.transport),
  );
  if (clientPublish)
    for (const url of layout.publisherUrls)
      checks.push(probe(url, adapter, probeSteps(adapter, undefined, probeChannel)));
  if (o.apiUrl !== undefined && o.scenario !== Scenario.connect)
    checks.push(probeApi(o.apiUrl, { apiKey: o.apiKey, pusherApp: o.pusherApp }, adapter, probeChannel));
  await Promise.all(checks);
}

function plansFor(o: ResolvedBenchOptions, layout: Layout): WorkerPlan[] {
  const laneRate = o.rate === "max" ? "max" : o.rate / Math.max(1, publisherCount(layout));
  return Array.from({ length: o.processes }, (_, worker) => ({
    worker,
    layout,
    protocol: o.protocol,
    transport: o.transport,
    rampRate: o.rampRate / o.processes,
    laneRate,
    publishOffsetUs: publishOffsetUs(layout, o.rate, worker),
    window: o.window,
    payloadBytes: o.payloadBytes,
    apiUrl: o.apiUrl,
    apiKey: o.apiKey,
    pusherApp: o.pusherApp,
  }));
}

/** Client CPU over the measured window: % of a core per process, and µs per delivery. */
function clientCost(
  o: ResolvedBenchOptions,
  cpu: { start?: ClientSample; end?: ClientSample },
): BenchResult["clients"] {
  const clients: BenchResult["clients"] = {
    processes: o.processes,
    cpuPercentPerProcess: undefined,
    cpuMicrosPerDelivery: undefined,
  };
  if (cpu.start === undefined || cpu.end === undefined || cpu.end.atMs <= cpu.start.atMs) return clients;
  const cpuUs = cpu.end.cpuMicros - cpu.start.cpuMicros;
  clients.cpuPercentPerProcess =
    Math.round((cpuUs / ((cpu.end.atMs - cpu.start.atMs) * 1000) / o.processes) * 1000) / 10;
  const deliveries = cpu.end.deliveries - cpu.start.deliveries;
  if (deliveries > 0) clients.cpuMicrosPerDelivery = Math.round((cpuUs / deliveries) * 100) / 100;
  return clients;
}

/** Runs one bench scenario end to end and returns its result. */
export async function runBench(o: ResolvedBenchOptions, io: RunIo): Promise<BenchResult> {
  const layout = layoutOf(o);
  const adapter = adapterByName(o.protocol);
  checkClientLimits(layout);
  await preflight(o, layout, adapter);
  const line = new ProgressLine(io.progress);
  const sources = statsSources(o);
  const startedAt = new Date();
  const samples: RunSamples = { baseline: await sampleAll(sources) };
  for (const s of samples.baseline) if (s.error !== undefined) line.note(`warning: ${s.error}`);

  const pool = new WorkerPool(plansFor(o, layout), io.workerEntry);
  const fanOut = o.scenario === Scenario.chat ? o.members : o.connections / o.channels;
  const monitor = new Monitor(pool, line, {
    scenario: o.scenario,
    wantedConnections: o.connections + (layout.apiPublish ? 0 : layout.publishers),
    maxLagDeliveries: o.rate === "max" ? Math.max(1000, 4 * o.window * publisherCount(layout) * fanOut) : undefined,
    fanOut,
  });
  const phases = new RunPhases(o, pool, monitor, sources, samples, io.signal);
  let finals: WorkerFinal[] = [];
  monitor.start();
  try {
    await phases.run(o.scenario !== Scenario.connect);
  } finally {
    // Workers behind on a loaded machine answer late: 10 s, and 1 s more per 2,000 connections a worker holds.
    finals = await pool.finish(10_000 + Math.ceil((o.connections + layout.publishers) / o.processes / 2));
    monitor.stop();
    pool.kill();
  }
  const { interruptReason } = phases;
  if (finals.length === 0) throw new BenchRunError(interruptReason ?? "no worker reported its results");
  if (pool.failure !== undefined && interruptReason === pool.failure && samples.connected === undefined)
    throw new BenchRunError(pool.failure);
  return buildResult({
    o,
    layout,
    pool,
    finals,
    samples,
    sourcesMeta: sources,
    startedAt,
    rampMs: phases.rampMs,
    measuredS: phases.measuredS,
    timeline: monitor.timeline,
    phases: monitor.phases(),
    interruptReason,
    clientCpu: phases.clientCpu,
  });
}

function buildResult(r: {
  o: ResolvedBenchOptions;
  layout: Layout;
  pool: WorkerPool;
  finals: WorkerFinal[];
  samples: RunSamples;
  sourcesMeta: readonly { name: string; kind: "metrics" | "proc" }[];
  startedAt: Date;
  rampMs: number;
  /** The measured window's length, in s (shorter than durationS after a Ctrl-C). */
  measuredS: number;
  timeline: BenchResult["timeline"];
  phases: BenchResult["phases"];
  interruptReason: string | undefined;
  clientCpu: { start?: ClientSample; end?: ClientSample };
}): BenchResult {
  const { o, layout, pool, finals, samples } = r;
  const { counters, failures, drops, publishFailures } = pool.totals();
  const uncorrected = new Histogram();
  const connectTimes = new Histogram();
  const subscribers = new Map<number, number>();
  const published = new Map<number, number>();
  const addPairs = (m: Map<number, number>, pairs: number[]): void => {
    for (let i = 0; i + 1 < pairs.length; i += 2)
      m.set(pairs[i] as number, (m.get(pairs[i] as number) ?? 0) + (pairs[i + 1] as number));
  };
  for (const f of finals) {
    uncorrected.addSnapshot(f.latencyUncorrected);
    connectTimes.addSnapshot(f.connectTimes);
    addPairs(subscribers, f.channelSubscribers);
    addPairs(published, f.channelPublished);
  }
  let expected = 0;
  for (const [c, n] of published) expected += n * (subscribers.get(c) ?? 0);
  const publishing = o.scenario !== Scenario.connect;
  const targets: TargetStats[] = r.sourcesMeta.map((source, k) => {
    const baseline = samples.baseline[k] as ServerSample;
    const pick = (list: ServerSample[] | undefined): ServerSample | undefined => list?.[k];
    return targetStats(
      source,
      {
        baseline,
        connected: pick(samples.connected),
        measureStart: pick(samples.measureStart),
        measureEnd: pick(samples.measureEnd),
      },
      {
        connectionsAdded: counters.ready + counters.dropped,
        measuredDeliveries: publishing ? counters.measuredDeliveries : 0,
        targets: r.sourcesMeta.length,
      },
    );
  });
  const rampSeconds = r.rampMs / 1000;
  const { apiKey: _apiKey, pusherApp, ...rest } = o;
  // The app's id and key name it; its secret stays out of the result, as the API key does.
  const shownOptions =
    pusherApp === undefined ? rest : { ...rest, pusherApp: { id: pusherApp.id, key: pusherApp.key } };
  const corrected = pool.latency;
  return {
    tool: "hubcast-bench",
    formatVersion: 1,
    scenario: o.scenario,
    startedAt: r.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    interrupted: r.interruptReason !== undefined,
    ...(r.interruptReason === undefined ? {} : { interruptReason: r.interruptReason }),
    options: shownOptions,
    machine: machineInfo(),
    connections: {
      requested: o.connections,
      publishers: layout.apiPublish ? 0 : layout.publishers,
      ready: counters.ready,
      failed: counters.failed,
      dropped: counters.dropped,
      retries: counters.retries,
      failures,
      drops,
      rampSeconds,
      connectsPerS: rampSeconds > 0 ? Math.round((counters.ready + counters.dropped) / rampSeconds) : 0,
      connectTime: latencySummary(connectTimes),
    },
    messages: {
      published: counters.published,
      measuredPublished: counters.measuredPublished,
      publishErrors: counters.publishErrors,
      publishFailures,
      deliveries: counters.deliveries,
      measuredDeliveries: counters.measuredDeliveries,
      expectedDeliveries: expected,
      lost: Math.max(0, expected - (counters.deliveries - counters.duplicates)),
      duplicates: counters.duplicates,
      outOfOrder: counters.outOfOrder,
      gaps: counters.gaps,
    },
    rates: {
      measuredSeconds: publishing ? r.measuredS : 0,
      publishedPerS: publishing && r.measuredS > 0 ? Math.round(counters.measuredPublished / r.measuredS) : 0,
      deliveriesPerS: publishing && r.measuredS > 0 ? Math.round(counters.measuredDeliveries / r.measuredS) : 0,
    },
    latency: {
      ...latencySummary(corrected),
      corrected: o.rate !== "max" && publishing,
      uncorrected: latencySummary(uncorrected),
      curve: corrected.percentileCurve().map((p) => ({ percentile: p.percentile, ms: p.value / 1000 })),
    },
    server: { targets, ...overallServerCost(targets) },
    clients: clientCost(o, r.clientCpu),
    timeline: r.timeline,
    phases: r.phases,
  };
}
