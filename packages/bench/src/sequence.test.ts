import { describe, expect, it } from "vitest";
import { SequenceCounter } from "./sequence.js";

function feed(seqs: number[], slots = 1, slot = 0): SequenceCounter {
  const c = new SequenceCounter(slots);
  for (const s of seqs) c.record(slot, s);
  return c;
}

describe("SequenceCounter", () => {
  it("counts nothing wrong for an in-order stream", () => {
    const c = feed([1, 2, 3, 4, 5]);
    expect([c.received, c.duplicates, c.outOfOrder, c.missing]).toEqual([5, 0, 0, 0]);
    expect(c.highest(0)).toBe(5);
  });

  it("counts gaps as missing", () => {
    const c = feed([1, 2, 5, 6, 10]);
    expect([c.received, c.duplicates, c.outOfOrder, c.missing]).toEqual([5, 0, 0, 5]);
  });

  it("counts a missing first message", () => {
    expect(feed([2, 3]).missing).toBe(1);
  });

  it("tells duplicates from late arrivals", () => {
    const c = feed([1, 2, 4, 3, 3, 4, 2]);
    expect(c.received).toBe(7);
    expect(c.outOfOrder).toBe(1); // 3 came after 4
    expect(c.duplicates).toBe(3); // the second 3, 4 and 2
    expect(c.missing).toBe(0); // the gap left by 3 was filled
  });

  it("remembers 32 numbers back, and counts older arrivals as out of order", () => {
    const c = feed([1, 40, 5]);
    expect(c.missing).toBe(37);
    expect(c.outOfOrder).toBe(1);
    const d = feed([1, 2, 3, 35, 3]);
    expect(d.duplicates).toBe(0); // 3 is 32 back: beyond the window, so it cannot be told apart
    expect(d.outOfOrder).toBe(1);
    const e = feed([1, 2, 3, 34, 3]);
    expect(e.duplicates).toBe(1); // 3 is 31 back, inside the window, and was seen
    expect(e.outOfOrder).toBe(0);
  });

  it("keeps slots apart", () => {
    const c = new SequenceCounter(3);
    for (let s = 1; s <= 10; s++) for (let slot = 0; slot < 3; slot++) c.record(slot, s);
    c.record(1, 10);
    expect([c.received, c.duplicates, c.outOfOrder, c.missing]).toEqual([31, 1, 0, 0]);
    expect([c.highest(0), c.highest(1), c.highest(2)]).toEqual([10, 10, 10]);
  });
});
