import type { RefreshResult } from "@hubcast/protocol";
import { Backoff } from "./backoff.js";
import type { BackoffOptions } from "./backoff.js";
import { toError } from "./emitter.js";

type Timer = ReturnType<typeof setTimeout>;

/** Refresh at this fraction of the remaining lifetime... */
const REFRESH_AT = 0.9;
/** ...but at least this long before expiry, so a slow token source still makes it. */
const MIN_LEAD_MS = 1000;

/** When to refresh credentials that expire in `remainingMs`: at 90% of it, at least 1 s early, never negative. */
export function refreshDelayMs(remainingMs: number): number {
  return Math.max(0, Math.min(remainingMs * REFRESH_AT, remainingMs - MIN_LEAD_MS));
}

/** What a {@link TokenRefresher} needs from its client. */
export interface RefresherHost {
  /** The app's token source (`ClientOptions.getToken`). */
  getToken(): Promise<string>;
  /** Sends `refresh` on the current connection. */
  refresh(token: string): Promise<RefreshResult>;
  /** A failed attempt; another follows after a backoff while the credentials are still valid. */
  onError(error: Error): void;
  readonly backoff: BackoffOptions;
}

/**
 * Keeps one connection's credentials fresh: before they expire it asks the app for a token and
 * sends `refresh`, again for each new expiry the server reports. A failed attempt is retried
 * with backoff until the expiry; after that the server closes the connection (3005) and the
 * next connect attempt gets a fresh token. One per connection; {@link stop} it when the
 * connection ends.
 */
export class TokenRefresher {
  private readonly retries: Backoff;
  private timer: Timer | undefined;
  private stopped = false;
  private expiresAt = 0;

  /** Starts the schedule for credentials expiring at `expiresAt` (ms since the Unix epoch). */
  constructor(
    private readonly host: RefresherHost,
    expiresAt: number,
    private readonly now: () => number = Date.now,
  ) {
    this.retries = new Backoff(host.backoff);
    this.schedule(expiresAt);
  }

  /** Cancels the schedule; nothing runs afterwards. Idempotent. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(expiresAt: number): void {
    this.expiresAt = expiresAt;
    this.arm(refreshDelayMs(expiresAt - this.now()));
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delayMs);
  }

  private async run(): Promise<void> {
    try {
      const token: unknown = await this.host.getToken();
      if (typeof token !== "string") throw new TypeError(`getToken must resolve to a string, got ${typeof token}`);
      if (this.stopped) return;
      const result = await this.host.refresh(token);
      if (this.stopped) return;
      this.retries.reset();
      if (result.expiresAt !== undefined) this.schedule(result.expiresAt);
    } catch (error) {
      if (this.stopped) return;
      this.host.onError(toError(error));
      const delayMs = this.retries.next();
      if (this.now() + delayMs < this.expiresAt) this.arm(delayMs);
    }
  }
}
