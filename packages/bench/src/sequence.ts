/**
 * Counts lost, duplicated and out-of-order messages per stream slot. A slot is one
 * (subscriber, publisher) pair; each publisher numbers its publications 1, 2, 3, … and every
 * subscriber must see each number once, in order.
 *
 * Per slot it keeps the highest number seen and a 32-bit window of which of the 32 numbers
 * below it have arrived, like an anti-replay window: a number inside the window is a
 * duplicate when its bit is set, otherwise a late (out-of-order) arrival that closes a gap.
 * A number more than 32 below the highest cannot be told apart and counts as out of order.
 */
export class SequenceCounter {
  private readonly last: Float64Array;
  private readonly seen: Int32Array;
  /** Messages recorded, duplicates included. */
  received = 0;
  /** Messages whose number this slot had already seen. */
  duplicates = 0;
  /** Messages that arrived after a higher number of the same slot. */
  outOfOrder = 0;
  /**
   * Numbers skipped so far and not filled in later: gaps between received numbers. Messages
   * lost at the end of a run leave no gap; compare with the expected count for those.
   */
  missing = 0;

  /** Tracks `slots` independent streams, numbered 0 to slots − 1. */
  constructor(readonly slots: number) {
    this.last = new Float64Array(slots);
    this.seen = new Int32Array(slots);
  }

  /** Records message number `seq` (≥ 1) on `slot`. */
  record(slot: number, seq: number): void {
    this.received += 1;
    const last = this.last[slot] ?? 0;
    if (seq > last) {
      const advance = seq - last;
      this.missing += advance - 1;
      const window = this.seen[slot] ?? 0;
      this.seen[slot] = (advance >= 32 ? 0 : window << advance) | 1;
      this.last[slot] = seq;
      return;
    }
    const behind = last - seq;
    if (behind >= 32) {
      this.outOfOrder += 1;
      if (this.missing > 0) this.missing -= 1;
      return;
    }
    const bit = 1 << behind;
    const window = this.seen[slot] ?? 0;
    if ((window & bit) !== 0) {
      this.duplicates += 1;
      return;
    }
    this.seen[slot] = window | bit;
    this.outOfOrder += 1;
    this.missing -= 1;
  }

  /** Highest number seen on `slot`; 0 before any. */
  highest(slot: number): number {
    return this.last[slot] ?? 0;
  }
}
