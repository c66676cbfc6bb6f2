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

/** What a {@link LinkPinger} reports, per link key. */
export interface PingerHandlers<K> {
  /** A PING went unanswered for the timeout; called once per unanswered PING. */
  onSilent(key: K): void;
  /** A PING was answered with a reply (a rejection that is not silence reports nothing: the link is not dead, but neither did it prove alive). */
  onAnswer?(key: K): void;
}

/** A PING down a Redis connection; in RESP2 subscribe mode Redis answers it with a `pong` message. */
export const redisPing = (link: { sendCommand(args: string[]): Promise<unknown> }): Promise<unknown> =>
  link.sendCommand(["PING"]);

/**
 * Pings links, at most one PING in flight per link key, and reports each PING as answered or
 * left unanswered for `timeoutMs`. Only silence means a dead link: another rejection (an error
 * reply, a connection error) reports nothing, unless `isSilence` says it means the same (a
 * client's own command timeout). The caller decides when
 * a link is worth pinging (a connection its Redis client already knows is down is the client's
 * to reconnect; a PING there would only fail).
 */
export class LinkPinger<K> {
  private readonly inFlight = new Set<K>();

  constructor(
    private readonly options: {
      timeoutMs: number;
      /** Names the PING in the timeout error, e.g. "redis pub/sub PING". */
      what: string;
      handlers: PingerHandlers<K>;
      isSilence?: (err: unknown) => boolean;
    },
  ) {}

  ping(key: K, send: () => Promise<unknown>): void {
    if (this.inFlight.has(key)) return;
    this.inFlight.add(key);
    const { timeoutMs, what, handlers, isSilence } = this.options;
    within(send(), timeoutMs, what)
      .then(
        () => handlers.onAnswer?.(key),
        (err: unknown) => {
          if (err instanceof LinkSilentError || isSilence?.(err) === true) handlers.onSilent(key);
        },
      )
      .finally(() => this.inFlight.delete(key));
  }
}
