import { describe, expect, it } from "vitest";
import { Histogram, HIGHEST_TRACKABLE } from "./histogram.js";

/** A seeded generator, so failures reproduce. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Nearest-rank percentile of a sorted array. */
const exact = (sorted: number[], p: number): number =>
  sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number;

const PERCENTILES = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100];

function expectClose(h: Histogram, values: number[]): void {
  const sorted = [...values].sort((a, b) => a - b);
  for (const p of PERCENTILES) {
    const want = exact(sorted, p);
    const got = h.valueAtPercentile(p);
    expect(Math.abs(got - want), `p${p}: got ${got}, want ${want}`).toBeLessThanOrEqual(want * 0.001);
  }
}

describe("Histogram", () => {
  it("matches a sorted array within 0.1% for values from 1 µs to minutes", () => {
    const next = random(42);
    // Log-uniform over 1 µs … 10 min, so every bucket of the layout is exercised.
    const values = Array.from({ length: 50_000 }, () => Math.round(Math.exp(next() * Math.log(600_000_000))));
    const h = new Histogram();
    for (const v of values) h.record(v);
    expect(h.total).toBe(values.length);
    expect(h.min).toBe(Math.min(...values));
    expect(h.max).toBe(Math.max(...values));
    expectClose(h, values);
  });

  it("is exact below 2048 and matches a narrow distribution", () => {
    const next = random(7);
    const values = Array.from({ length: 20_000 }, () => 900 + Math.round(next() * 300));
    const h = new Histogram();
    for (const v of values) h.record(v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const p of PERCENTILES) expect(h.valueAtPercentile(p)).toBe(exact(sorted, p));
    expect(h.mean()).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 6);
  });

  it("clamps values beyond the trackable range and reports 0 while empty", () => {
    const h = new Histogram();
    expect(h.valueAtPercentile(99)).toBe(0);
    h.record(HIGHEST_TRACKABLE * 10);
    h.record(-5);
    expect(h.max).toBe(HIGHEST_TRACKABLE);
    expect(h.min).toBe(0);
  });

  it("merges: two halves added, or sent as snapshots, equal the whole", () => {
    const next = random(3);
    const values = Array.from({ length: 30_000 }, () => Math.round(next() * next() * 5_000_000));
    const whole = new Histogram();
    const a = new Histogram();
    const b = new Histogram();
    values.forEach((v, i) => {
      whole.record(v);
      (i % 2 === 0 ? a : b).record(v);
    });
    const merged = new Histogram();
    merged.add(a);
    merged.add(b);
    const viaSnapshots = Histogram.fromSnapshot(JSON.parse(JSON.stringify(a.snapshot())));
    viaSnapshots.addSnapshot(JSON.parse(JSON.stringify(b.snapshot())));
    for (const h of [merged, viaSnapshots]) {
      expect(h.total).toBe(whole.total);
      expect(h.min).toBe(whole.min);
      expect(h.max).toBe(whole.max);
      for (const p of PERCENTILES) expect(h.valueAtPercentile(p)).toBe(whole.valueAtPercentile(p));
    }
    expectClose(merged, values);
  });

  it("corrects for coordinated omission like HdrHistogram's recordValueWithExpectedInterval", () => {
    // The naive expansion: value, value − i, value − 2i, … while ≥ i.
    const naive = new Histogram();
    const fast = new Histogram();
    const samples = [
      { value: 50, interval: 100 },
      { value: 1_000, interval: 100 },
      { value: 2_000_000, interval: 1_000 },
      { value: 123_457, interval: 7 },
      { value: 9_999, interval: 0 },
    ];
    for (const { value, interval } of samples) {
      fast.recordWithExpectedInterval(value, interval);
      naive.record(value);
      if (interval > 0)
        for (let missing = value - interval; missing >= interval; missing -= interval) naive.record(missing);
    }
    expect(fast.total).toBe(naive.total);
    expect(fast.min).toBe(naive.min);
    expect(fast.max).toBe(naive.max);
    for (const p of [...PERCENTILES, 33.3, 66.6])
      expect(fast.valueAtPercentile(p), `p${p}`).toBe(naive.valueAtPercentile(p));
    expect(fast.mean()).toBeCloseTo(naive.mean(), 3);
  });

  it("a stall at a fixed rate shows in the corrected tail, not only in one sample", () => {
    // 1 ms interval, 1,000 answers of 1 ms, then one that took 1 s: HdrHistogram's own example.
    const raw = new Histogram();
    const corrected = new Histogram();
    for (let i = 0; i < 1_000; i++) {
      raw.record(1_000);
      corrected.recordWithExpectedInterval(1_000, 1_000);
    }
    raw.record(1_000_000);
    corrected.recordWithExpectedInterval(1_000_000, 1_000);
    expect(raw.valueAtPercentile(99)).toBe(1_000);
    expect(corrected.total).toBe(2_000);
    expect(corrected.valueAtPercentile(75)).toBeGreaterThan(490_000);
    expect(corrected.valueAtPercentile(99)).toBeGreaterThan(970_000);
  });

  it("draws a percentile curve that rises to the maximum", () => {
    const h = new Histogram();
    for (let v = 1; v <= 10_000; v++) h.record(v);
    const curve = h.percentileCurve();
    expect(curve[0]).toEqual({ percentile: 0, value: 1 });
    expect(curve[curve.length - 1]).toEqual({ percentile: 100, value: 10_000 });
    for (let i = 1; i < curve.length; i++)
      expect((curve[i] as { value: number }).value).toBeGreaterThanOrEqual((curve[i - 1] as { value: number }).value);
  });
});
