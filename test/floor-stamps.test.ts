import { describe, expect, it } from "vitest";
// bench/floor is a plain-JS tool outside the workspaces; its frame format is checked here.
// @ts-expect-error: an .mjs module without types
import * as stamps from "../bench/floor/lib/stamps.mjs";

interface Summary {
  frames: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  maxMs: number | undefined;
  badDigits: number;
}
interface Histogram {
  frames: number;
  buckets: [number, number][];
}
interface Reader {
  read(index: number, chunk: Buffer, offset: number): void;
  summary(): Summary;
  histogram(): Histogram;
}
const { FRAME_BYTES, StampReader, stampedFrame, monotonicUs, summarizeLatency } = stamps as {
  FRAME_BYTES: number;
  StampReader: new () => Reader;
  stampedFrame: (stampUs: number) => Buffer;
  monotonicUs: () => number;
  summarizeLatency: (histograms: Histogram[]) => Summary;
};

/** Feeds `stream` to a reader in reads of `size` bytes on connection 0. */
function readInPieces(reader: Reader, stream: Buffer, size: number): void {
  for (let at = 0; at < stream.length; at += size) reader.read(0, stream.subarray(at, at + size), at);
}

describe("bench/floor's stamped frames", () => {
  it("builds a 66-byte unmasked text frame whose payload starts with the stamp", () => {
    const frame = stampedFrame(1_234_567);
    expect(frame.length).toBe(FRAME_BYTES);
    expect(frame[0]).toBe(0x81);
    expect(frame[1]).toBe(64);
    expect(frame.subarray(2, 18).toString("latin1")).toBe("0000000001234567");
    expect(frame.subarray(18).toString("latin1")).toBe("x".repeat(48));
  });

  it("reads every stamp whatever the reads split, and counts none for warm-up frames (stamp 0)", () => {
    const sentUs = monotonicUs() - 5_000; // sent 5 ms ago
    const stream = Buffer.concat([stampedFrame(0), stampedFrame(sentUs), stampedFrame(sentUs), stampedFrame(0)]);
    for (const size of [1, 2, 3, 7, 17, 65, 66, 67, 131, stream.length]) {
      const reader = new StampReader();
      readInPieces(reader, stream, size);
      const s = reader.summary();
      expect(s.frames, `reads of ${size} bytes`).toBe(2);
      expect(s.badDigits).toBe(0);
      expect(s.p50Ms).toBeGreaterThanOrEqual(5);
      expect(s.p50Ms).toBeLessThan(1_000);
    }
  });

  it("keeps each connection's split stamp apart and reports the latency percentiles", () => {
    const reader = new StampReader();
    const now = monotonicUs();
    // Connection 1's frames were sent 10 ms ago, connection 2's 100 ms ago; reads interleave mid-stamp.
    const one = Buffer.concat([stampedFrame(now - 10_000), stampedFrame(now - 10_000)]);
    const two = Buffer.concat([stampedFrame(now - 100_000), stampedFrame(now - 100_000)]);
    for (let at = 0; at < one.length; at += 10) {
      reader.read(1, one.subarray(at, at + 10), at);
      reader.read(2, two.subarray(at, at + 10), at);
    }
    const s = reader.summary();
    expect(s.frames).toBe(4);
    expect(s.p50Ms).toBeGreaterThanOrEqual(10);
    expect(s.p50Ms).toBeLessThan(100);
    expect(s.p99Ms).toBeGreaterThanOrEqual(100);
    expect(s.maxMs).toBeGreaterThanOrEqual(100);
  });

  it("merges the histograms of several reading processes into one set of percentiles", () => {
    const now = monotonicUs();
    const fast = new StampReader();
    const slow = new StampReader();
    // 99 frames 10 ms late in one process, 1 frame 200 ms late in the other.
    for (let i = 0; i < 99; i++) fast.read(i, stampedFrame(now - 10_000), 0);
    slow.read(0, stampedFrame(now - 200_000), 0);
    const merged = summarizeLatency([fast.histogram(), slow.histogram()]);
    expect(merged.frames).toBe(100);
    expect(merged.p50Ms).toBeGreaterThanOrEqual(10);
    expect(merged.p50Ms).toBeLessThan(200);
    expect(merged.p99Ms).toBeLessThan(200); // the 99th of 100 frames is a fast one
    expect(merged.maxMs).toBeGreaterThanOrEqual(200);
    expect(fast.histogram().buckets.length).toBeLessThan(99); // sparse: only buckets that hold frames
  });

  it("counts stamp bytes that are not digits: a stream read out of step with its frames", () => {
    const reader = new StampReader();
    const stream = Buffer.concat([stampedFrame(monotonicUs()), stampedFrame(monotonicUs())]);
    reader.read(0, stream.subarray(20), 0); // as if 20 bytes had not been counted
    expect(reader.summary().badDigits).toBeGreaterThan(0);
  });

  it("reports nothing measured as undefined rather than zero", () => {
    const s = new StampReader().summary();
    expect(s).toMatchObject({ frames: 0, p50Ms: undefined, p99Ms: undefined, maxMs: undefined });
  });
});
