import { describe, expect, it } from "vitest";
import { layoutOf, publishOffsetUs, publisherSpec, workerPublishers } from "./layout.js";
import { resolveBenchOptions } from "./options.js";
import type { BenchOptions } from "./options.js";

const resolved = (o: Partial<BenchOptions>) =>
  resolveBenchOptions({ scenario: "fanout", urls: ["ws://127.0.0.1:8080/ws"], ...o });

/** When each publication of the run's first `rounds` rounds is due, in s after the start, as the workers schedule them. */
function dueTimes(o: Partial<BenchOptions>, rounds: number): { channel: number; atS: number }[] {
  const options = resolved(o);
  const layout = layoutOf(options);
  const laneRate = (options.rate as number) / layout.publishers;
  const due: { channel: number; atS: number }[] = [];
  for (let w = 0; w < layout.processes; w++) {
    const lanes = [...workerPublishers(layout, w)];
    // As PublishScheduler does within a worker: its lanes in turn, evenly spaced.
    const stepS = 1 / (laneRate * lanes.length);
    const offsetS = publishOffsetUs(layout, options.rate, w) / 1e6;
    for (let n = 0; n < rounds * lanes.length; n++) {
      const j = lanes[n % lanes.length] as number;
      due.push({ channel: publisherSpec(layout, j).publishChannel, atS: offsetS + n * stepS });
    }
  }
  return due.sort((a, b) => a.atS - b.atS);
}

describe("publishOffsetUs", () => {
  it("staggers publishers in different processes: five channels at 1/s in all get one publication a second each in turn", () => {
    // The 250,000-connection run's shape: one publisher per channel, each in a process of its own.
    const due = dueTimes({ connections: 250_000, channels: 5, rate: 1, processes: 14 }, 2);
    expect(due.map((d) => d.atS)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(due.map((d) => d.channel)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
  });

  it("interleaves evenly when processes hold several publishers each", () => {
    const due = dueTimes({ connections: 1000, channels: 1, publishers: 4, rate: 8, processes: 2 }, 3);
    const gaps = due.slice(1).map((d, k) => d.atS - (due[k] as { atS: number }).atS);
    for (const gap of gaps) expect(gap).toBeCloseTo(1 / 8, 9);
  });

  it("is zero for one process, for rate max, and for a worker without publishers", () => {
    const one = resolved({ connections: 1000, rate: 10, processes: 1 });
    expect(publishOffsetUs(layoutOf(one), one.rate, 0)).toBe(0);
    const max = resolved({ connections: 1000, rate: "max", publishers: 2, processes: 2 });
    expect(publishOffsetUs(layoutOf(max), "max", 1)).toBe(0);
    const idle = resolved({ connections: 1000, rate: 10, processes: 3 });
    expect(publishOffsetUs(layoutOf(idle), idle.rate, 2)).toBe(0);
    expect(publishOffsetUs(layoutOf(idle), idle.rate, 0)).toBe(0);
  });
});
