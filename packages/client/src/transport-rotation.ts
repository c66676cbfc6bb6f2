import type { TransportName } from "./transports.js";

/**
 * Which transport the next connect attempt uses. A round tries the transports in order,
 * starting with the one that last worked (the first one at the start); an attempt that ends
 * before the node said anything moves on to the next at once, and only a whole round of
 * failures waits a backoff. A transport that worked is where the following rounds start, until
 * {@link TransportRotation.reset} (`connect()`) or {@link TransportRotation.moveTo} (a WebSocket that works again).
 */
export class TransportRotation {
  private index = 0;
  private start = 0;

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

  /** The attempt on {@link current} failed to reach the node; true when a round is over (wait a backoff). */
  failed(): boolean {
    this.index = (this.index + 1) % this.names.length;
    return this.index === this.start;
  }

  /** A connection on {@link current} worked: rounds start with it from now on. */
  worked(): void {
    this.start = this.index;
  }

  /** `name` (one of {@link names}) for the next attempt and the rounds after it. */
  moveTo(name: TransportName): void {
    this.index = Math.max(0, this.names.indexOf(name));
    this.start = this.index;
  }

  /** Back to the first transport. */
  reset(): void {
    this.index = 0;
    this.start = 0;
  }
}
