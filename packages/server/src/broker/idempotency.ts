import type { StreamPosition } from "@hubcast/protocol";

interface Entry {
  /** The first publication's position; `undefined` without history. */
  position: StreamPosition | undefined;
  expiresAt: number;
}

/** The memory engine's default bound on remembered idempotency keys, node-wide. */
export const DEFAULT_MAX_IDEMPOTENCY_KEYS = 100_000;

/**
 * Idempotency keys per channel, each remembered for `windowMs` after its first use, with the
 * position it got. Bounded: past `maxKeys` the oldest keys are forgotten early (a retry that
 * late publishes again, as it would after the window). Entries share one window, so insertion
 * order is expiry order and both bounds are kept by dropping from the front.
 */
export class IdempotencyKeys {
  // One map keyed by channel and key (length-prefixed, so no pair can collide with another).
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number,
    private readonly maxKeys: number = DEFAULT_MAX_IDEMPOTENCY_KEYS,
  ) {}

  /** The position recorded for `key` in `channel` within the window, or `"none"` when it is unused. */
  lookup(channel: string, key: string): { position: StreamPosition | undefined } | "none" {
    const entry = this.entries.get(slot(channel, key));
    if (entry === undefined || entry.expiresAt <= this.now()) return "none";
    return { position: entry.position };
  }

  /** Remembers `key`'s first position for the window. */
  record(channel: string, key: string, position: StreamPosition | undefined): void {
    const now = this.now();
    this.drop(now);
    const id = slot(channel, key);
    this.entries.delete(id); // re-inserted at the back, where its expiry belongs
    this.entries.set(id, { position, expiresAt: now + this.windowMs });
    if (this.entries.size > this.maxKeys) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }

  /** Keys remembered now (expired ones may linger until the next record). */
  get size(): number {
    return this.entries.size;
  }

  private drop(now: number): void {
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt > now) return;
      this.entries.delete(id);
    }
  }
}

const slot = (channel: string, key: string): string => `${channel.length}:${channel}${key}`;
