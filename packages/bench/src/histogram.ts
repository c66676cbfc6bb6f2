/**
 * An HDR-style log-linear histogram of non-negative integer values (the bench records
 * latencies in microseconds). Three significant digits: every recorded value is reported
 * within 1/1024 (< 0.1%) of itself, values up to 2047 exactly. Fixed layout (1 to
 * {@link HIGHEST_TRACKABLE} µs), so histograms from different workers always merge.
 *
 * The layout follows HdrHistogram: bucket 0 holds 0..2047 one by one; each later bucket
 * doubles the range and the step, holding 1024 sub-buckets of width 2^bucket.
 */

const SUB_BUCKET_COUNT_MAGNITUDE = 11; // 2048 sub-buckets: 3 significant digits
const SUB_BUCKET_COUNT = 1 << SUB_BUCKET_COUNT_MAGNITUDE;
const SUB_BUCKET_HALF_COUNT_MAGNITUDE = SUB_BUCKET_COUNT_MAGNITUDE - 1;
const SUB_BUCKET_HALF_COUNT = 1 << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
const SUB_BUCKET_MASK = SUB_BUCKET_COUNT - 1;

/** The largest value tracked: one hour in microseconds. Larger values are recorded as this. */
export const HIGHEST_TRACKABLE = 3_600_000_000;

const BUCKET_COUNT = bucketsNeeded(HIGHEST_TRACKABLE);
const COUNTS_LENGTH = (BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT;

function bucketsNeeded(highest: number): number {
  let smallestUntrackable = SUB_BUCKET_COUNT;
  let buckets = 1;
  while (smallestUntrackable <= highest) {
    smallestUntrackable *= 2;
    buckets += 1;
  }
  return buckets;
}

/** Number of bits needed to write `v` (v ≥ 1), for values beyond 32 bits too. */
function bitLength(v: number): number {
  if (v < 0x1_0000_0000) return 32 - Math.clz32(v);
  return 64 - Math.clz32(Math.floor(v / 0x1_0000_0000));
}

function bucketIndexOf(value: number): number {
  // `value | mask` without 32-bit truncation: values below 2048 all land in bucket 0.
  return bitLength(value < SUB_BUCKET_COUNT ? SUB_BUCKET_MASK : value) - SUB_BUCKET_COUNT_MAGNITUDE;
}

/** Index into the counts array of the sub-bucket holding `value`. */
export function countsIndexOf(value: number): number {
  const bucket = bucketIndexOf(value);
  const subBucket = Math.floor(value / 2 ** bucket);
  return ((bucket + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + (subBucket - SUB_BUCKET_HALF_COUNT);
}

/** The lowest value that lands in the counts slot `index`. */
function lowestValueAt(index: number): number {
  let bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1;
  let subBucket = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
  if (bucket < 0) {
    subBucket -= SUB_BUCKET_HALF_COUNT;
    bucket = 0;
  }
  return subBucket * 2 ** bucket;
}

/** The width of the counts slot `index` (1 in bucket 0, 2^bucket beyond). */
function widthAt(index: number): number {
  const bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1;
  return bucket <= 0 ? 1 : 2 ** bucket;
}

/** A histogram in a form that survives JSON and IPC: `[index, count, index, count, …]` for non-empty slots. */
export interface HistogramSnapshot {
  counts: number[];
  total: number;
  min: number;
  max: number;
  sum: number;
}

/** A mergeable HDR-style histogram; see the module comment for its precision. */
export class Histogram {
  private counts = new Float64Array(COUNTS_LENGTH);
  /** Values recorded, synthetic coordinated-omission values included. */
  total = 0;
  /** Smallest and largest value recorded (exact, not bucketed); `min` is Infinity while empty. */
  min = Number.POSITIVE_INFINITY;
  max = 0;
  private sum = 0;

  /** Records `value` (rounded, clamped to 0..{@link HIGHEST_TRACKABLE}) `count` times. */
  record(value: number, count = 1): void {
    const v = Math.min(HIGHEST_TRACKABLE, Math.max(0, Math.round(value)));
    const index = countsIndexOf(v);
    this.counts[index] = (this.counts[index] ?? 0) + count;
    this.total += count;
    this.sum += v * count;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /**
   * Records `value`, and, when it exceeds `expectedInterval`, the values a sender working at
   * that fixed interval would have seen meanwhile: `value - k × expectedInterval` for every
   * k ≥ 1 that stays ≥ `expectedInterval` (HdrHistogram's `recordValueWithExpectedInterval`,
   * the correction for coordinated omission). `expectedInterval` ≤ 0 records `value` alone.
   * Synthetic values are counted slot by slot, so a long stall costs at most a few thousand
   * steps, not one per missing value.
   */
  recordWithExpectedInterval(value: number, expectedInterval: number): void {
    this.record(value);
    if (!(expectedInterval > 0) || value <= expectedInterval) return;
    let missing = value - expectedInterval;
    while (missing >= expectedInterval) {
      const v = Math.min(HIGHEST_TRACKABLE, Math.round(missing));
      const lowest = lowestValueAt(countsIndexOf(v));
      // How many of missing, missing - interval, … stay in this slot and above the floor.
      const floor = Math.max(lowest, expectedInterval);
      const n = Math.max(1, Math.floor((missing - floor) / expectedInterval) + 1);
      const last = missing - (n - 1) * expectedInterval;
      this.recordSpan(missing, last, n);
      missing -= n * expectedInterval;
    }
  }

  /** Records `n` values from `first` down to `last`, which lie in one slot. */
  private recordSpan(first: number, last: number, n: number): void {
    const index = countsIndexOf(Math.min(HIGHEST_TRACKABLE, Math.round(first)));
    this.counts[index] = (this.counts[index] ?? 0) + n;
    this.total += n;
    this.sum += ((first + last) / 2) * n;
    const lo = Math.round(last);
    const hi = Math.round(first);
    if (lo < this.min) this.min = lo;
    if (hi > this.max) this.max = hi;
  }

  /**
   * The value at `percentile` (0–100) by nearest rank: the smallest recorded value with at
   * least that share of values at or below it, reported as the highest value of its slot
   * (so never below the true value, and at most 0.1% above it). 0 while empty.
   */
  valueAtPercentile(percentile: number): number {
    if (this.total === 0) return 0;
    const p = Math.min(100, Math.max(0, percentile));
    if (p === 100) return this.max;
    if (p === 0) return this.min;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < COUNTS_LENGTH; i++) {
      const c = this.counts[i] ?? 0;
      if (c === 0) continue;
      seen += c;
      if (seen >= rank) return Math.min(this.max, lowestValueAt(i) + widthAt(i) - 1);
    }
    return this.max;
  }

  /** Mean of the recorded values; 0 while empty. */
  mean(): number {
    return this.total === 0 ? 0 : this.sum / this.total;
  }

  /** Adds every value of `other` to this histogram. */
  add(other: Histogram): void {
    for (let i = 0; i < COUNTS_LENGTH; i++) {
      const c = other.counts[i] ?? 0;
      if (c !== 0) this.counts[i] = (this.counts[i] ?? 0) + c;
    }
    this.mergeTotals(other.total, other.min, other.max, other.sum);
  }

  /** Adds the values of a snapshot (from another process) to this histogram. */
  addSnapshot(snapshot: HistogramSnapshot): void {
    const { counts } = snapshot;
    for (let i = 0; i + 1 < counts.length; i += 2) {
      const index = counts[i] as number;
      this.counts[index] = (this.counts[index] ?? 0) + (counts[i + 1] as number);
    }
    this.mergeTotals(snapshot.total, snapshot.min, snapshot.max, snapshot.sum);
  }

  private mergeTotals(total: number, min: number, max: number, sum: number): void {
    if (total === 0) return;
    this.total += total;
    this.sum += sum;
    if (min < this.min) this.min = min;
    if (max > this.max) this.max = max;
  }

  /** The histogram as plain data; {@link Histogram.fromSnapshot} restores it. */
  snapshot(): HistogramSnapshot {
    const counts: number[] = [];
    for (let i = 0; i < COUNTS_LENGTH; i++) {
      const c = this.counts[i] ?? 0;
      if (c !== 0) counts.push(i, c);
    }
    return { counts, total: this.total, min: this.total === 0 ? 0 : this.min, max: this.max, sum: this.sum };
  }

  /** A histogram holding the snapshot's values. */
  static fromSnapshot(snapshot: HistogramSnapshot): Histogram {
    const h = new Histogram();
    h.addSnapshot(snapshot);
    return h;
  }

  /** Empties the histogram. */
  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.sum = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = 0;
  }

  /**
   * Points of the percentile curve, for charts: percentiles 0, 50, 75, 87.5, … (halving the
   * remainder each step, `ticksPerHalf` points per halving) up to 99.9999 and 100.
   */
  percentileCurve(ticksPerHalf = 4): { percentile: number; value: number }[] {
    const points: { percentile: number; value: number }[] = [];
    if (this.total === 0) return points;
    for (let step = 0; ; step++) {
      const percentile = 100 * (1 - 2 ** (-step / ticksPerHalf));
      if (percentile > 99.9999) break;
      points.push({ percentile, value: this.valueAtPercentile(percentile) });
    }
    points.push({ percentile: 100, value: this.max });
    return points;
  }
}
