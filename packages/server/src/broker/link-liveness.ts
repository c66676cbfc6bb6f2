import { LINK_LIVENESS_DEFAULTS } from "../engine/engine.js";

/** How a pub/sub link checks its liveness, and whom it tells. */
export interface LivenessOptions {
  /** How often a PING goes down each pub/sub connection, in ms. @default 1_000 */
  pingIntervalMs?: number;
  /** A PING unanswered for this long declares the link dead, in ms. @default 2_000 */
  pongTimeoutMs?: number;
  /** Called once per dead link, when it is declared dead (for a metric). */
  onDead?: () => void;
}

/** Applies the defaults of {@link LivenessOptions} (`LINK_LIVENESS_DEFAULTS`: a silent link is declared dead within 3 s); throws a TypeError naming the option when a period is not a positive integer. */
export function resolveLiveness(
  options: LivenessOptions = {},
): Readonly<{ pingIntervalMs: number; pongTimeoutMs: number }> {
  const o = {
    pingIntervalMs: options.pingIntervalMs ?? LINK_LIVENESS_DEFAULTS.pingIntervalMs,
    pongTimeoutMs: options.pongTimeoutMs ?? LINK_LIVENESS_DEFAULTS.pongTimeoutMs,
  };
  for (const [name, value] of Object.entries(o)) {
    if (!Number.isInteger(value) || value <= 0)
      throw new TypeError(`${name} must be a positive integer (ms), got ${value}`);
  }
  return Object.freeze(o);
}

/** Redis did not answer on the pub/sub link in time. */
export class LinkSilentError extends Error {
  override readonly name = "LinkSilentError";
  readonly code = "REDIS_LINK_SILENT";
}

/** Resolves with `promise`, or rejects with a {@link LinkSilentError} after `ms` (the promise itself may still settle later). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LinkSilentError(`${what}: no answer within ${ms} ms`)), ms);
  });
  promise.catch(() => undefined); // a late failure after the timeout was already handled
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A Redis connection that can be pinged; in RESP2 subscribe mode Redis answers a PING with a `pong` message. */
export interface PingableLink {
  sendCommand(args: string[]): Promise<unknown>;
}

/**
 * Pings links, at most one PING in flight per link, and calls `onSilent(link)` once for each
 * PING left unanswered for `pongTimeoutMs`. An error reply is still an answer: only silence
 * means a dead link. The caller decides when a link is worth pinging (a connection its Redis
 * client already knows is down is the client's to reconnect; a PING there would only fail).
 */
export class LinkPinger<L extends PingableLink> {
  private readonly inFlight = new WeakSet<L>();

  constructor(
    private readonly pongTimeoutMs: number,
    private readonly onSilent: (link: L) => void,
  ) {}

  ping(link: L): void {
    if (this.inFlight.has(link)) return;
    this.inFlight.add(link);
    within(link.sendCommand(["PING"]), this.pongTimeoutMs, "redis pub/sub PING")
      .then(
        () => undefined,
        (err: unknown) => {
          if (err instanceof LinkSilentError) this.onSilent(link);
        },
      )
      .finally(() => this.inFlight.delete(link));
  }
}
