import { monitorEventLoopDelay } from "node:perf_hooks";
import type { IntervalHistogram } from "node:perf_hooks";

/** How often a node samples itself, in ms. */
export const SAMPLE_INTERVAL_MS = 1_000;

/** Samples a node keeps: 15 minutes at one a second. */
export const HISTORY_SAMPLES = 900;

/** One sample: `[tsMs, connections, publicationsPerSecond, deliveriesPerSecond, rssBytes, eventLoopLagMs]`. */
export type StatsSample = [number, number, number, number, number, number];

const FIELDS = 6;

/** What the sampler reads from its node each period. */
export interface SamplerSource {
  /** Client connections open now. */
  connections(): number;
  /** Publications received since the node started (a count that only grows). */
  publications(): number;
  /** Publication frames written to clients since the node started (a count that only grows). */
  deliveries(): number;
  /** Called after each sample with the ms since the previous one (to update per-channel rates once a period too). */
  tick?(elapsedMs: number): void;
}

/** How the sampler runs; the defaults suit a node, tests replace the clock and the process readings. */
export interface SamplerOptions {
  /** @default SAMPLE_INTERVAL_MS */
  intervalMs?: number;
  /** @default HISTORY_SAMPLES */
  capacity?: number;
  /** @default Date.now */
  now?: () => number;
  /** The process's resident set size, in bytes. @default process.memoryUsage.rss */
  rssBytes?: () => number;
  /** Event-loop lag since the previous call, in ms. @default a {@link LoopLag} the sampler starts and stops */
  lagMs?: () => number;
}

/** A fixed-size ring of samples in one typed array (no allocation per sample); the oldest is overwritten. */
export class StatsRing {
  private readonly values: Float64Array;
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.values = new Float64Array(capacity * FIELDS);
  }

  get size(): number {
    return this.count;
  }

  push(sample: Readonly<StatsSample>): void {
    this.values.set(sample, this.next * FIELDS);
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
  }

  /** The samples, oldest first. */
  toArray(): StatsSample[] {
    const out: StatsSample[] = [];
    const first = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) out.push(this.at((first + i) % this.capacity));
    return out;
  }

  /** The newest sample, or `undefined` before the first. */
  latest(): StatsSample | undefined {
    return this.count === 0 ? undefined : this.at((this.next - 1 + this.capacity) % this.capacity);
  }

  private at(slot: number): StatsSample {
    const v = this.values.subarray(slot * FIELDS, slot * FIELDS + FIELDS);
    return [v[0] ?? 0, v[1] ?? 0, v[2] ?? 0, v[3] ?? 0, v[4] ?? 0, v[5] ?? 0];
  }
}

/** Resolution of the event-loop delay monitor, in ms; subtracted from what it reports, as the metric does. */
const LOOP_RESOLUTION_MS = 10;

/** Event-loop lag: the 99th percentile of the loop's delay since the previous read, less the monitor's own period. */
export class LoopLag {
  private readonly delay: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });

  constructor() {
    this.delay.enable();
  }

  /** Lag since the previous read, in ms (0 when idle); resets the monitor. */
  read(): number {
    const p99Ms = this.delay.count === 0 ? 0 : this.delay.percentile(99) / 1e6;
    this.delay.reset();
    return Math.max(0, p99Ms - LOOP_RESOLUTION_MS);
  }

  stop(): void {
    this.delay.disable();
  }
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

/**
 * Samples a node once a period into a ring: its connections, publications and deliveries per
 * second (from the counters' growth since the previous sample), RSS and event-loop lag. One
 * timer per node, unref'd, whatever the number of viewers.
 */
export class StatsSampler {
  private readonly ring: StatsRing;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly rssBytes: () => number;
  private lagMs: (() => number) | undefined;
  private loopLag: LoopLag | undefined;
  private timer: NodeJS.Timeout | undefined;
  private previous: { at: number; publications: number; deliveries: number } | undefined;

  constructor(
    private readonly source: SamplerSource,
    options: SamplerOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? SAMPLE_INTERVAL_MS;
    this.ring = new StatsRing(options.capacity ?? HISTORY_SAMPLES);
    this.now = options.now ?? Date.now;
    this.rssBytes = options.rssBytes ?? (() => process.memoryUsage.rss());
    this.lagMs = options.lagMs;
  }

  /** Takes a first sample now, then one every period until {@link stop}. */
  start(): void {
    if (this.timer !== undefined) return;
    if (this.lagMs === undefined) {
      const loopLag = new LoopLag();
      this.loopLag = loopLag;
      this.lagMs = () => loopLag.read();
    }
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.loopLag?.stop();
  }

  /** Takes one sample now and returns it (the timer calls this; tests may too). Rates are 0 in the first. */
  sample(): StatsSample {
    const at = this.now();
    const publications = this.source.publications();
    const deliveries = this.source.deliveries();
    const previous = this.previous;
    const elapsedMs = previous === undefined ? 0 : at - previous.at;
    const perSecond = (grown: number): number => (elapsedMs > 0 ? round2((grown * 1000) / elapsedMs) : 0);
    const sample: StatsSample = [
      at,
      this.source.connections(),
      perSecond(publications - (previous?.publications ?? publications)),
      perSecond(deliveries - (previous?.deliveries ?? deliveries)),
      this.rssBytes(),
      round2(this.lagMs?.() ?? 0),
    ];
    this.previous = { at, publications, deliveries };
    this.ring.push(sample);
    if (elapsedMs > 0) this.source.tick?.(elapsedMs);
    return sample;
  }

  /** The samples kept, oldest first. */
  history(): StatsSample[] {
    return this.ring.toArray();
  }

  /** The newest sample, or `undefined` before {@link start}. */
  latest(): StatsSample | undefined {
    return this.ring.latest();
  }
}
