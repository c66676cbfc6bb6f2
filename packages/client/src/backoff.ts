/** How reconnect and resubscribe delays grow. */
export interface BackoffOptions {
  /** Base delay: attempt 0 waits up to this long. @default 200 */
  minDelayMs: number;
  /** Cap on the upper bound of any delay. @default 20_000 */
  maxDelayMs: number;
  /** Source of uniform numbers in [0, 1); injectable so tests are deterministic. @default Math.random */
  random?: () => number;
}

// 2^52 already exceeds any sane cap; bounding the exponent keeps 0 * Infinity (NaN) away.
const MAX_EXPONENT = 52;

/**
 * Exponential backoff with full jitter: `random() * min(maxDelayMs, minDelayMs * 2^attempt)`.
 * The result is always in `[0, min(maxDelayMs, minDelayMs * 2^attempt))`, in milliseconds.
 * Full jitter spreads a crowd of clients that lost the same server over the whole window.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), MAX_EXPONENT);
  const ceiling = Math.min(options.maxDelayMs, options.minDelayMs * 2 ** exponent);
  return random() * ceiling;
}

/** A stateful backoff: each {@link Backoff.next} widens the window until {@link Backoff.reset}. */
export class Backoff {
  private attemptCount = 0;

  /** A backoff at attempt 0. */
  constructor(private readonly options: BackoffOptions) {}

  /** How many delays were handed out since the last reset. */
  get attempt(): number {
    return this.attemptCount;
  }

  /** The delay before the next attempt, in ms; advances the attempt counter. */
  next(): number {
    const delayMs = backoffDelayMs(this.attemptCount, this.options);
    this.attemptCount += 1;
    return delayMs;
  }

  /** Back to attempt 0, after a success. */
  reset(): void {
    this.attemptCount = 0;
  }
}
