import type { Session } from "./session.js";

/**
 * One node-wide timer for every connection's liveness: pings on each session's own schedule,
 * closes those that miss a pong, those that never sent `connect`, and those idle without a
 * subscription for idleTimeoutMs, and those whose token expired without a `refresh` (3005). Per-connection timers
 * would cost a timer object each and wake the loop N times as often.
 */
export class Heartbeat {
  private readonly timer: NodeJS.Timeout;

  private readonly idleTimeoutMs: number;
  private readonly now: () => number;

  constructor(
    private readonly sessions: ReadonlySet<Session>,
    options: { sweepIntervalMs: number; idleTimeoutMs: number; now?: () => number },
  ) {
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => this.sweep(), options.sweepIntervalMs);
    this.timer.unref();
  }

  /** Visits every session once; public so tests can drive it with a manual clock. */
  sweep(): void {
    const now = this.now();
    for (const session of this.sessions) session.checkLiveness(now, this.idleTimeoutMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** A sweep period fine enough for the shortest of the liveness periods, and at most 1 s. */
export const sweepIntervalFor = (periodsMs: readonly number[]): number =>
  Math.max(10, Math.min(1000, Math.floor(Math.min(...periodsMs) / 4)));
