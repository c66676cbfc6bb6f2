/**
 * A token bucket: `ratePerSecond` tokens accrue continuously up to `burst`; each action takes
 * one. Plain fields, no timers: refilled lazily from the clock when asked.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.refilledAt = now;
  }

  /** Takes a token if there is one. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is available (0 when one is). */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000);
  }

  /** Whether the bucket has refilled to its burst: as a new one would be. */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }

  private refill(now: number): void {
    const elapsedMs = now - this.refilledAt;
    if (elapsedMs <= 0) return;
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs * this.ratePerSecond) / 1000);
    this.refilledAt = now;
  }
}

/** How long the window for counting refused commands is, in ms. */
export const RATE_LIMIT_WINDOW_MS = 10_000;

/**
 * A connection's command rate: a token bucket plus a count of refusals in a fixed window, so
 * a client that keeps hammering is disconnected while a short burst only gets errors.
 */
export class CommandRateLimit {
  private readonly bucket: TokenBucket;
  private refusals = 0;
  private windowStartedAt: number;

  constructor(
    ratePerSecond: number,
    burst: number,
    private readonly maxRefusals: number,
    now: number,
  ) {
    this.bucket = new TokenBucket(ratePerSecond, burst, now);
    this.windowStartedAt = now;
  }

  /** Whether it is as a new one would be: its bucket full, no refusal counted in the current window. */
  atRest(now: number): boolean {
    return this.bucket.full(now) && (this.refusals === 0 || now - this.windowStartedAt >= RATE_LIMIT_WINDOW_MS);
  }

  /** `ok`: go ahead; `refuse`: answer with too_many_requests; `disconnect`: sustained abuse. */
  check(now: number): "ok" | "refuse" | "disconnect" {
    if (this.bucket.take(now)) return "ok";
    if (now - this.windowStartedAt >= RATE_LIMIT_WINDOW_MS) {
      this.windowStartedAt = now;
      this.refusals = 0;
    }
    this.refusals += 1;
    return this.refusals > this.maxRefusals ? "disconnect" : "refuse";
  }
}

/** Live connections per key (user id or IP address) on this node. */
export class ConnectionCounter {
  private readonly counts = new Map<string, number>();

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  add(key: string): void {
    this.counts.set(key, this.count(key) + 1);
  }

  remove(key: string): void {
    const next = this.count(key) - 1;
    if (next > 0) this.counts.set(key, next);
    else this.counts.delete(key);
  }
}
