import type { ResolvedBenchOptions } from "../options.js";
import { nowUs } from "../payload.js";
import type { Monitor } from "./monitor.js";
import { sampleAll } from "./server-stats.js";
import type { ServerSample, StatsSource } from "./server-stats.js";
import type { WorkerPool } from "./workers.js";

/** Ramp stalls (no connection settles) for this long before the run gives up. */
const RAMP_STALL_MS = 30_000;
/** After publishing stops, deliveries must pause this long to count as drained. */
const DRAIN_QUIET_MS = 750;
const DRAIN_MAX_MS = 15_000;

/** The workers' CPU and deliveries at one moment (as of their last progress report). */
export interface ClientSample {
  atMs: number;
  cpuMicros: number;
  deliveries: number;
}

/** Server readings at the run's four moments, one entry per stats source. */
export interface RunSamples {
  baseline: ServerSample[];
  connected?: ServerSample[];
  measureStart?: ServerSample[];
  measureEnd?: ServerSample[];
}

/** Polls `done` every 50 ms; resolves true when it holds, false after `timeoutMs`. */
export async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))));
  }
  return true;
}

/**
 * The phases of a run after the workers started: ramp, settle, then hold (connect) or
 * warmup, measure and drain (publishing scenarios). Each phase ends early when the run is
 * aborted or a worker fails; `interruptReason` then says why.
 */
export class RunPhases {
  interruptReason: string | undefined;
  rampMs = 0;
  /** When the measured window's first and last server samples were taken (ms); a Ctrl-C ends it early. */
  private measureFromMs = 0;
  private measureToMs = 0;
  readonly clientCpu: { start?: ClientSample; end?: ClientSample } = {};

  constructor(
    private readonly o: ResolvedBenchOptions,
    private readonly pool: WorkerPool,
    private readonly monitor: Monitor,
    private readonly sources: readonly StatsSource[],
    readonly samples: RunSamples,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** True once the run should stop; sets `interruptReason`. */
  stopped(): boolean {
    if (this.signal?.aborted === true) this.interrupt("interrupted");
    if (this.pool.failure !== undefined) this.interrupt(this.pool.failure);
    return this.interruptReason !== undefined;
  }

  /** Stops the run early for `reason` (the first reason given wins), marking the moment in the timeline. */
  private interrupt(reason: string): void {
    if (this.interruptReason !== undefined) return;
    this.interruptReason = reason;
    this.monitor.phase = "stopped";
  }

  /** Runs every phase in order. */
  async run(publishing: boolean): Promise<void> {
    await this.rampUp();
    if (!this.stopped()) await this.settle();
    if (this.stopped()) return;
    if (publishing) await this.publish();
    else await this.hold();
  }

  private pause(ms: number): Promise<unknown> {
    return waitFor(() => this.stopped(), ms);
  }

  private clientSample(): ClientSample {
    const { counters } = this.pool.totals();
    return { atMs: Date.now(), cpuMicros: counters.cpuMicros, deliveries: counters.deliveries };
  }

  private async rampUp(): Promise<void> {
    const startMs = Date.now();
    let settled = 0;
    let lastChangeMs = startMs;
    await waitFor(() => {
      const { counters } = this.pool.totals();
      const now = counters.ready + counters.failed;
      if (now !== settled) [settled, lastChangeMs] = [now, Date.now()];
      if (Date.now() - lastChangeMs > RAMP_STALL_MS)
        this.interrupt(`the ramp stalled: no connection settled for ${RAMP_STALL_MS / 1000} s`);
      return this.pool.allSettled || this.stopped();
    }, Number.POSITIVE_INFINITY);
    this.rampMs = Date.now() - startMs;
    const { counters, failures } = this.pool.totals();
    if (!this.stopped() && counters.ready === 0) {
      const top = Object.entries(failures).sort((a, b) => b[1] - a[1])[0];
      this.interrupt(`no connection succeeded${top === undefined ? "" : ` (${top[1]}× ${top[0]})`}`);
    }
  }

  /** How long the measured window lasted, in s: `durationS`, or less when the run was stopped early. */
  get measuredS(): number {
    return Math.min(this.o.durationS, Math.max(0, this.measureToMs - this.measureFromMs) / 1000);
  }

  private async settle(): Promise<void> {
    this.monitor.phase = "settle";
    await this.pause(1000);
    this.samples.connected = await sampleAll(this.sources);
  }

  private async hold(): Promise<void> {
    this.monitor.phase = "hold";
    this.samples.measureStart = this.samples.connected;
    this.clientCpu.start = this.clientSample();
    this.measureFromMs = Date.now();
    await this.pause(this.o.durationS * 1000);
    this.measureToMs = Date.now();
    this.samples.measureEnd = await sampleAll(this.sources);
    this.clientCpu.end = this.clientSample();
  }

  private async publish(): Promise<void> {
    const startAtUs = nowUs() + 200_000;
    const measureFromUs = startAtUs + this.o.warmupS * 1e6;
    const stopAtUs = measureFromUs + this.o.durationS * 1e6;
    this.pool.broadcast({ type: "run", startAtUs, measureFromUs, stopAtUs });
    this.monitor.phase = "warmup";
    await this.pause((measureFromUs - nowUs()) / 1000);
    this.samples.measureStart = await sampleAll(this.sources);
    this.clientCpu.start = this.clientSample();
    this.monitor.phase = "measure";
    this.measureFromMs = Date.now();
    await this.pause((stopAtUs - nowUs()) / 1000);
    this.measureToMs = Date.now();
    this.samples.measureEnd = await sampleAll(this.sources);
    this.clientCpu.end = this.clientSample();
    this.monitor.phase = "drain";
    const drainStart = Date.now();
    const quiet = (): boolean =>
      Date.now() - drainStart >= DRAIN_QUIET_MS && Date.now() - this.monitor.lastDeliveryChangeMs >= DRAIN_QUIET_MS;
    await waitFor(() => this.stopped() || quiet(), DRAIN_MAX_MS);
  }
}
