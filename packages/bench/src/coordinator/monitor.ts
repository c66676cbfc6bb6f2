import type { PhaseSpan, RunPhase, TimelinePoint } from "../report/result.js";
import { progressText, type ProgressLine } from "./progress.js";
import type { WorkerPool } from "./workers.js";

const TICK_MS = 250;

/** Seconds to one decimal, as the timeline keeps them. */
const round = (s: number): number => Math.round(s * 10) / 10;

/**
 * Watches a run from the coordinator: every 250 ms it reads the workers' totals, redraws the
 * progress line and applies rate-"max" back-pressure; every second it adds a timeline point.
 */
export class Monitor {
  readonly timeline: TimelinePoint[] = [];
  private readonly startMs = Date.now();
  /** Phases entered so far, with the second each began. */
  private readonly entered: { phase: RunPhase; fromS: number }[] = [{ phase: "ramp", fromS: 0 }];
  private endS: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastPoint = { atMs: Date.now(), published: 0, deliveries: 0 };
  /** Deliveries and when they last changed, for the drain. */
  private lastDeliveries = 0;
  lastDeliveryChangeMs = Date.now();
  private paused = false;

  constructor(
    private readonly pool: WorkerPool,
    private readonly line: ProgressLine,
    private readonly context: {
      scenario: string;
      wantedConnections: number;
      /** With rate "max": pause publishers when subscribers fall this many deliveries behind. */
      maxLagDeliveries: number | undefined;
      /** Subscribers per channel, roughly: deliveries each publication should make. */
      fanOut: number;
    },
  ) {}

  /** What the run is doing now; shown on the progress line and stored in the timeline. */
  get phase(): RunPhase {
    return this.entered[this.entered.length - 1]?.phase ?? "ramp";
  }

  /** Enters `phase` now. Once `stopped`, the run stays stopped: the phases it skips are not entered. */
  set phase(phase: RunPhase) {
    if (phase === this.phase || this.phase === "stopped") return;
    this.entered.push({ phase, fromS: this.elapsedS() });
  }

  /** The phases so far, each ending where the next begins; the last ends at {@link stop}, or now. */
  phases(): PhaseSpan[] {
    const endS = this.endS ?? this.elapsedS();
    return this.entered.map((p, i) => ({
      phase: p.phase,
      fromS: round(p.fromS),
      toS: round(this.entered[i + 1]?.fromS ?? endS),
    }));
  }

  /** Starts ticking. */
  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Stops ticking and ends the progress line. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.endS ??= this.elapsedS();
    this.line.done();
  }

  /** Seconds since the run started. */
  elapsedS(nowMs = Date.now()): number {
    return (nowMs - this.startMs) / 1000;
  }

  private tick(): void {
    const now = Date.now();
    const { counters } = this.pool.totals();
    if (counters.deliveries !== this.lastDeliveries) {
      this.lastDeliveries = counters.deliveries;
      this.lastDeliveryChangeMs = now;
    }
    this.backPressure(counters.published, counters.deliveries);
    const latency = this.pool.latency;
    const sinceS = (now - this.lastPoint.atMs) / 1000;
    const publishedPerS = sinceS > 0 ? (counters.published - this.lastPoint.published) / sinceS : 0;
    const deliveriesPerS = sinceS > 0 ? (counters.deliveries - this.lastPoint.deliveries) / sinceS : 0;
    this.line.update(
      progressText({
        scenario: this.context.scenario,
        phase: this.phase,
        elapsedS: this.elapsedS(now),
        ready: counters.ready,
        wanted: this.context.wantedConnections,
        publishedPerS,
        deliveriesPerS,
        p50Ms: latency.total > 0 ? latency.valueAtPercentile(50) / 1000 : undefined,
        p99Ms: latency.total > 0 ? latency.valueAtPercentile(99) / 1000 : undefined,
        failed: counters.failed,
        dropped: counters.dropped,
        publishErrors: counters.publishErrors,
        lost: counters.gaps,
      }),
      now,
    );
    if (sinceS >= 1) {
      const interval = this.pool.takeInterval();
      const point: TimelinePoint = {
        tS: round(this.elapsedS(now)),
        phase: this.phase,
        connections: counters.ready,
        publishedPerS: Math.round(publishedPerS),
        deliveriesPerS: Math.round(deliveriesPerS),
        failed: counters.failed,
        dropped: counters.dropped,
      };
      if (interval.total > 0) {
        point.p50Ms = interval.valueAtPercentile(50) / 1000;
        point.p99Ms = interval.valueAtPercentile(99) / 1000;
        point.maxMs = interval.max / 1000;
      }
      this.timeline.push(point);
      this.lastPoint = { atMs: now, published: counters.published, deliveries: counters.deliveries };
    }
  }

  private backPressure(published: number, deliveries: number): void {
    const limit = this.context.maxLagDeliveries;
    if (limit === undefined) return;
    const lag = published * this.context.fanOut - deliveries;
    if (!this.paused && lag > limit) this.setPaused(true);
    else if (this.paused && lag < limit / 2) this.setPaused(false);
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    this.pool.broadcast({ type: "pause", paused });
  }
}
