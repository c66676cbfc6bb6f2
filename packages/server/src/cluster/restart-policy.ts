/** When a crashed worker is started again, and when the primary stops trying. */
export interface RestartPolicyOptions {
  /** More crashes than this within `windowMs` and the primary gives up. @default 5 */
  maxCrashes?: number;
  /** The window crashes are counted in, in ms. @default 60_000 */
  windowMs?: number;
  /** Delay before restarting after the first crash in the window, in ms; doubles with each further one. @default 100 */
  baseDelayMs?: number;
  /** Longest delay before a restart, in ms. @default 10_000 */
  maxDelayMs?: number;
}

/** What to do after a crash: restart after `delayMs`, or give up (`crashes` within the window). */
export type RestartDecision = { giveUp: false; delayMs: number; crashes: number } | { giveUp: true; crashes: number };

/**
 * The crash history of one worker slot: exponential backoff between restarts (100 ms, 200 ms,
 * 400 ms, ... up to `maxDelayMs`), counted over a sliding window, so a worker that crashes now
 * and then restarts quickly while one that crashes in a loop makes the primary give up.
 */
export class CrashHistory {
  private readonly crashes: number[] = [];
  private readonly maxCrashes: number;
  private readonly windowMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(
    options: RestartPolicyOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.maxCrashes = options.maxCrashes ?? 5;
    this.windowMs = options.windowMs ?? 60_000;
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
  }

  /** The policy as text, for messages: "5 crashes within 60 s". */
  get limit(): string {
    return `${this.maxCrashes} crashes within ${this.windowMs / 1000} s`;
  }

  /** Records a crash now and decides. */
  record(): RestartDecision {
    const now = this.now();
    this.crashes.push(now);
    while ((this.crashes[0] ?? now) <= now - this.windowMs) this.crashes.shift();
    const crashes = this.crashes.length;
    if (crashes > this.maxCrashes) return { giveUp: true, crashes };
    return { giveUp: false, delayMs: Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (crashes - 1)), crashes };
  }
}
