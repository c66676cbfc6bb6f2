/**
 * The write floor's frame, and what its client measures with it: every frame's payload starts
 * with the time its round's loop began, so the reading client can tell how long each frame
 * took to reach it. That is the floor's delivery latency, the same measure a fanout benchmark
 * takes from publish to receipt, where the server's loop time alone leaves out the kernel's
 * and the reader's share.
 *
 * Frame: FIN + text opcode, 64-byte payload, unmasked (as a server sends it). The payload is
 * 16 ASCII digits, the round's start in µs of the machine's monotonic clock (shared by every
 * process), then `x`s. Warm-up rounds carry zeros: the client counts no latency for them.
 */

export const FRAME_BYTES = 66;
const PAYLOAD_BYTES = FRAME_BYTES - 2;
const STAMP_AT = 2;
const STAMP_DIGITS = 16;
const STAMP_END = STAMP_AT + STAMP_DIGITS;
const DIGIT_0 = 0x30;

/** The machine's monotonic clock in µs (CLOCK_MONOTONIC: the same in every process). */
export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** A write-floor frame carrying `stampUs` (0 for a round whose latency is not measured). */
export function stampedFrame(stampUs) {
  const frame = Buffer.alloc(FRAME_BYTES, "x".charCodeAt(0));
  frame[0] = 0x81;
  frame[1] = PAYLOAD_BYTES;
  frame.write(String(stampUs).padStart(STAMP_DIGITS, "0"), STAMP_AT, "latin1");
  return frame;
}

/** Latency histogram resolution and range: 10 µs buckets up to 20 s, longer ones counted at the top. */
const BUCKET_US = 10;
const BUCKETS = 2_000_000;

/**
 * Reads the stamps of a stream of write-floor frames per connection, wherever reads split
 * them, and keeps a histogram of the latencies (fixed memory, whatever the frame count).
 */
export class StampReader {
  /** Per connection: the digits of a stamp a read split, so far. */
  #partial = [];
  #histogram = new Uint32Array(BUCKETS);
  #count = 0;
  #maxUs = 0;
  #badDigits = 0;

  /** Connection `index` received `chunk` after `offset` bytes (frames start at offset 0). */
  read(index, chunk, offset) {
    const nowUs = monotonicUs();
    let pos = offset % FRAME_BYTES;
    let stamp = this.#partial[index] ?? 0;
    let i = 0;
    while (i < chunk.length) {
      if (pos >= STAMP_AT && pos < STAMP_END) {
        const digit = chunk[i] - DIGIT_0;
        if (digit < 0 || digit > 9) this.#badDigits++;
        stamp = stamp * 10 + digit;
        i++;
        pos++;
        if (pos === STAMP_END) {
          if (stamp > 0) this.#record(nowUs - stamp);
          stamp = 0;
        }
        continue;
      }
      // Skip to the next stamp digit, or to the end of the chunk.
      const to = pos < STAMP_AT ? STAMP_AT : FRAME_BYTES + STAMP_AT;
      const step = Math.min(to - pos, chunk.length - i);
      i += step;
      pos += step;
      if (pos >= FRAME_BYTES) pos -= FRAME_BYTES;
    }
    this.#partial[index] = stamp;
  }

  #record(latencyUs) {
    const bucket = Math.min(BUCKETS - 1, Math.max(0, Math.floor(latencyUs / BUCKET_US)));
    this.#histogram[bucket]++;
    this.#count++;
    if (latencyUs > this.#maxUs) this.#maxUs = latencyUs;
  }

  /** The histogram's non-empty buckets, for merging the readings of several reader processes. */
  histogram() {
    const buckets = [];
    for (let b = 0; b < BUCKETS; b++) if (this.#histogram[b] > 0) buckets.push([b, this.#histogram[b]]);
    return { frames: this.#count, maxUs: this.#maxUs, badDigits: this.#badDigits, buckets };
  }

  /** Frames measured, their latency's p50 / p90 / p99 / max in ms, and stamp bytes that were not digits. */
  summary() {
    return summarizeLatency([this.histogram()]);
  }
}

/**
 * The latency of the frames every reader measured, from their {@link StampReader.histogram}s:
 * frames, p50 / p90 / p99 / max in ms (a bucket's upper bound, so at most 10 µs high), and
 * stamp bytes that were not digits.
 */
export function summarizeLatency(histograms) {
  const counts = new Map();
  let frames = 0;
  let maxUs = 0;
  let badDigits = 0;
  for (const h of histograms) {
    frames += h.frames;
    maxUs = Math.max(maxUs, h.maxUs);
    badDigits += h.badDigits;
    for (const [bucket, n] of h.buckets) counts.set(bucket, (counts.get(bucket) ?? 0) + n);
  }
  const sorted = [...counts].sort((a, b) => a[0] - b[0]);
  const at = (q) => {
    if (frames === 0) return undefined;
    const rank = Math.max(1, Math.ceil(q * frames));
    let seen = 0;
    for (const [bucket, n] of sorted) {
      seen += n;
      if (seen >= rank) return ((bucket + 1) * BUCKET_US) / 1000;
    }
    return maxUs / 1000;
  };
  return {
    frames,
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    maxMs: frames === 0 ? undefined : maxUs / 1000,
    badDigits,
  };
}
