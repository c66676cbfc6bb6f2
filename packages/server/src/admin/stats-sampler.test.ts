import { describe, expect, it } from "vitest";
import { StatsRing, StatsSampler } from "./stats-sampler.js";
import type { StatsSample } from "./stats-sampler.js";

const sample = (ts: number): StatsSample => [ts, 1, 2, 3, 4, 5];

describe("StatsRing", () => {
  it("keeps the newest samples, oldest first, overwriting the oldest when full", () => {
    const ring = new StatsRing(3);
    expect(ring.toArray()).toEqual([]);
    expect(ring.latest()).toBeUndefined();
    for (let ts = 1; ts <= 5; ts++) ring.push(sample(ts));
    expect(ring.toArray().map((s) => s[0])).toEqual([3, 4, 5]);
    expect(ring.latest()).toEqual(sample(5));
    expect(ring.size).toBe(3);
  });
});

describe("StatsSampler", () => {
  it("turns growing counters into rates per second and tells the source how long each period was", () => {
    let t = 10_000;
    let publications = 100;
    let deliveries = 1_000;
    const ticks: number[] = [];
    const sampler = new StatsSampler(
      {
        connections: () => 7,
        publications: () => publications,
        deliveries: () => deliveries,
        tick: (elapsedMs) => ticks.push(elapsedMs),
      },
      { now: () => t, rssBytes: () => 123, lagMs: () => 1.234, capacity: 900 },
    );
    expect(sampler.sample()).toEqual([10_000, 7, 0, 0, 123, 1.23]);
    t += 2_000;
    publications += 10;
    deliveries += 50;
    expect(sampler.sample()).toEqual([12_000, 7, 5, 25, 123, 1.23]);
    expect(ticks).toEqual([2_000]);
    expect(sampler.history()).toHaveLength(2);
  });

  it("samples at once when started and stops its timer", () => {
    const sampler = new StatsSampler(
      { connections: () => 0, publications: () => 0, deliveries: () => 0 },
      { intervalMs: 60_000 },
    );
    sampler.start();
    expect(sampler.history()).toHaveLength(1);
    expect(sampler.latest()?.[4]).toBeGreaterThan(0); // the real RSS
    sampler.stop();
  });
});
