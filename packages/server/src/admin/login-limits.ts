/** How many failed admin logins are allowed, and over how long. */
export interface LoginLimitOptions {
  /** Failed logins one client address may make per window. @default 5 */
  perAddress?: number;
  /** Failed logins the whole node allows per window, every address together. @default 30 */
  perNode?: number;
  /** The sliding window, in ms. @default 60_000 */
  windowMs?: number;
  /** Most addresses remembered; past it the one whose last failure is oldest is forgotten. @default 10_000 */
  maxAddresses?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Failure times within a sliding window, at most `limit` of them (older ones no longer matter):
 * full means refused until the oldest leaves the window.
 */
class FailureWindow {
  private readonly times: number[] = [];

  constructor(private readonly limit: number) {}

  /** Ms until one more failure may happen; 0 now. */
  waitMs(now: number, windowMs: number): number {
    this.prune(now, windowMs);
    const oldest = this.times[0];
    return this.times.length < this.limit || oldest === undefined ? 0 : oldest + windowMs - now;
  }

  add(now: number): void {
    this.times.push(now);
    if (this.times.length > this.limit) this.times.shift();
  }

  /** The latest failure, or -Infinity when none. */
  get last(): number {
    return this.times.at(-1) ?? Number.NEGATIVE_INFINITY;
  }

  private prune(now: number, windowMs: number): void {
    while (this.times.length > 0 && (this.times[0] ?? 0) <= now - windowMs) this.times.shift();
  }
}

/**
 * Rate limits failed admin logins per client address and per node, over a sliding window. While
 * either is full every login is refused, the right password too, so guessing costs the same
 * whether or not a guess would have been right. Memory is bounded: addresses without a failure
 * in the window are forgotten, and at most `maxAddresses` are held.
 */
export class LoginLimiter {
  private readonly perAddress: number;
  private readonly windowMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;
  private readonly node: FailureWindow;
  /** Ordered by last failure, oldest first (a failure moves its address to the end). */
  private readonly addresses = new Map<string, FailureWindow>();

  constructor(options: LoginLimitOptions = {}) {
    this.perAddress = options.perAddress ?? 5;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxAddresses = options.maxAddresses ?? 10_000;
    this.now = options.now ?? Date.now;
    this.node = new FailureWindow(options.perNode ?? 30);
  }

  /** Ms until `address` may try to log in; 0: it may now. */
  retryAfterMs(address: string): number {
    const now = this.now();
    const own = this.addresses.get(address)?.waitMs(now, this.windowMs) ?? 0;
    return Math.max(own, this.node.waitMs(now, this.windowMs));
  }

  /** A login from `address` gave a wrong password. */
  failed(address: string): void {
    const now = this.now();
    this.forgetStale(now);
    let window = this.addresses.get(address);
    if (window === undefined) window = new FailureWindow(this.perAddress);
    else this.addresses.delete(address); // re-inserted below, at the end of the order
    window.add(now);
    this.addresses.set(address, window);
    if (this.addresses.size > this.maxAddresses) {
      const oldest = this.addresses.keys().next();
      if (oldest.done !== true) this.addresses.delete(oldest.value);
    }
    this.node.add(now);
  }

  /** A login from `address` succeeded: its own failures are forgotten (the node's still count). */
  succeeded(address: string): void {
    this.addresses.delete(address);
  }

  /** Addresses remembered now (for tests). */
  get size(): number {
    return this.addresses.size;
  }

  private forgetStale(now: number): void {
    for (const [address, window] of this.addresses) {
      if (window.last > now - this.windowMs) return; // the rest failed later
      this.addresses.delete(address);
    }
  }
}
