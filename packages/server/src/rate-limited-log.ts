import type { Logger } from "pino";

/**
 * Logs a recurring failure at most once per interval: the first at once, then one line per
 * interval with how many happened since the last line. During an outage every request fails
 * the same way; a line per request would bury the log and cost more than the requests.
 * Needs no timer: a line is due when a failure arrives after the interval.
 */
export class RateLimitedLog {
  private lastLoggedAt = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  /** `intervalMs`: the least time between two lines. @default 10_000 */
  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly intervalMs: number = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records one failure; writes a warn line with `err` and `count` (failures it stands for) when one is due. */
  failure(err: unknown, fields: Readonly<Record<string, unknown>> = {}): void {
    const now = this.now();
    if (now - this.lastLoggedAt < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.logger.warn({ ...fields, err, count: this.suppressed + 1, intervalMs: this.intervalMs }, this.message);
    this.lastLoggedAt = now;
    this.suppressed = 0;
  }
}
