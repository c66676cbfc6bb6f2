import type { TransportName } from "./transports.js";

/** Failed attempts in a row after which a transport that worked is no longer tried alone. */
export const STICKY_ATTEMPTS = 5;

/**
 * Which transport the next connect attempt uses. A transport that worked is kept for
 * reconnects: its failed attempts wait the backoff, as a node restarting fails every
 * transport alike, until {@link STICKY_ATTEMPTS} in a row fail (a network that started
 * refusing it). Otherwise attempts go round the transports in order from where the last round
 * started: one that ends before the node said anything moves on to the next at once, and only
 * a whole round of failures waits a backoff.
 */
export class TransportRotation {
  private index = 0;
  private start = 0;
  private sticky = false;
  private strikes = 0;

  /** `names`: the transports in order of preference, at least one. */
  constructor(readonly names: readonly TransportName[]) {}

  /** The transport of the next attempt. */
  get current(): TransportName {
    return this.names[this.index] as TransportName;
  }

  /** The transports ahead of the current one in preference. */
  get preferred(): readonly TransportName[] {
    return this.names.slice(0, this.index);
  }

  /** The attempt on {@link current} failed to reach the node; true when the next one should wait a backoff. */
  failed(): boolean {
    if (this.sticky && ++this.strikes < STICKY_ATTEMPTS) return true;
    this.sticky = false;
    this.index = (this.index + 1) % this.names.length;
    return this.index === this.start;
  }

  /** A connection on {@link current} worked: reconnects keep to it. */
  worked(): void {
    this.start = this.index;
    this.sticky = true;
    this.strikes = 0;
  }

  /** `name` (one of {@link names}) for the next attempt, and where rounds start. */
  moveTo(name: TransportName): void {
    this.index = Math.max(0, this.names.indexOf(name));
    this.start = this.index;
    this.sticky = false;
  }

  /** Back to the first transport, as at the start. */
  reset(): void {
    this.moveTo(this.names[0] as TransportName);
  }
}
