import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
// bench/peers is a plain-JS tool outside the workspaces; its knee search and step verdict are checked here.
// @ts-expect-error: an .mjs module without types
import { findKnee } from "../bench/peers/lib/ladder.mjs";
// @ts-expect-error: an .mjs module without types
import { latencyOnly, stepRecord } from "../bench/peers/lib/knee-step.mjs";
// @ts-expect-error: an .mjs module without types
import * as kneeReport from "../bench/peers/lib/knee-report.mjs";

const { costByRateMarkdownTable, ladderPoints, scaleOutCostByRate, scaleOutCostMarkdownTable } = kneeReport;

interface Step {
  rate: number;
  pass: boolean;
  stopped?: boolean;
  phase?: string;
  reasons: string[];
  deliveriesPerS?: number;
  deliveriesPerSPerCore?: number;
  deliveriesPerSPerCoreWithRedis?: number;
  redisCpuPercent?: number;
}
interface Knee {
  steps: Step[];
  knee: Step | undefined;
  failed: Step | undefined;
  outcome: string;
}
const search = findKnee as (
  o: { startRate: number; factor: number; maxSteps: number; refineSteps: number },
  tryRate: (rate: number) => Promise<Step>,
  shouldStop?: () => boolean,
) => Promise<Knee>;

/** A system that sustains every rate up to `capacity` publications/s. */
const systemWithCapacity = (capacity: number) => async (rate: number) => ({
  rate,
  pass: rate <= capacity,
  reasons: rate <= capacity ? [] : ["p99 over the bound"],
});
const ladder = { startRate: 2, factor: 1.4, maxSteps: 12, refineSteps: 2 };

describe("bench/peers knee search", () => {
  it("climbs ×factor until a step fails, then bisects geometrically between the last good and the first bad rate", async () => {
    const result = await search(ladder, systemWithCapacity(8));
    expect(result.steps.map((s) => [s.rate, s.phase])).toEqual([
      [2, "ladder"],
      [2.8, "ladder"],
      [3.92, "ladder"],
      [5.49, "ladder"],
      [7.69, "ladder"],
      [10.8, "ladder"],
      [9.11, "refine"], // √(7.69 × 10.8)
      [8.37, "refine"], // √(7.69 × 9.11)
    ]);
    expect(result).toMatchObject({ outcome: "found", knee: { rate: 7.69 }, failed: { rate: 8.37 } });
  });

  it("descends ÷factor when the first step fails, and says so when no step passes", async () => {
    const found = await search(ladder, systemWithCapacity(1));
    expect(found.steps.slice(0, 3).map((s) => s.rate)).toEqual([2, 1.43, 1.02]);
    expect(found).toMatchObject({ outcome: "found", failed: { rate: 1.02 } });
    expect(found.knee?.rate).toBeLessThanOrEqual(1);

    const none = await search({ ...ladder, maxSteps: 3 }, systemWithCapacity(0));
    expect(none).toMatchObject({ outcome: "below-ladder", knee: undefined, failed: { rate: 1.02 } });
    expect(none.steps).toHaveLength(3);
  });

  it("reports the knee as a lower bound when every step of the ladder passed", async () => {
    const result = await search({ ...ladder, maxSteps: 3 }, systemWithCapacity(1000));
    expect(result).toMatchObject({ outcome: "above-ladder", knee: { rate: 3.92 }, failed: undefined });
    expect(result.steps).toHaveLength(3);
  });

  it("ends at a step that could not be judged (Ctrl-C, a system that did not start) without counting it as a failure", async () => {
    const result = await search(ladder, async (rate) => ({ rate, pass: rate < 3, stopped: rate > 3, reasons: [] }));
    expect(result).toMatchObject({ outcome: "stopped", knee: { rate: 2.8 }, failed: undefined });
    expect(result.steps.at(-1)).toMatchObject({ rate: 3.92, stopped: true });
  });

  it("refuses a ladder that cannot climb, naming the flag", async () => {
    await expect(search({ ...ladder, factor: 1 }, systemWithCapacity(8))).rejects.toThrow(
      "--factor must be a number above 1, got 1",
    );
  });
});

/** A full peer run's raw fanout result: Hubcast, 2 nodes on Redis, 10,000 subscribers at 10/s (p99 324 ms). */
const peerRun = JSON.parse(
  readFileSync(new URL("../bench/peers/results/2026-12-06T1934.json", import.meta.url), "utf8"),
) as { raw: Record<string, { fanout: { server: { targets: { name: string }[] } } }> };
const fanout = peerRun.raw["hubcast-redis-2"]?.fanout;
const [nodeA, nodeB, redis] = (fanout?.server.targets ?? []).map((t) => Number(t.name.slice("pid:".length)));
const record = stepRecord as (result: unknown, step: Record<string, unknown>) => Step;

describe("bench/peers knee step verdict", () => {
  const step = (changes: Record<string, unknown>, bound = 400, rate = 10) =>
    record({ ...fanout, ...changes }, { rate, p99BoundMs: bound, pids: [nodeA, nodeB], backendPids: [redis] });

  it("sustains a step within the bound, with deliveries/s per core of the nodes, and with Redis's CPU added", () => {
    const s = step({});
    expect(s).toMatchObject({ pass: true, reasons: [], deliveriesPerS: 100_000, redisCpuPercent: 0.4 });
    expect(s.deliveriesPerSPerCore).toBe(Math.round(100_000 / 0.956)); // nodes at 95.6% of a core
    expect(s.deliveriesPerSPerCoreWithRedis).toBe(Math.round(100_000 / 0.96));
  });

  it("fails a step past the p99 bound, or with a delivery lost, duplicated, out of order, or a publisher behind", () => {
    expect(step({}, 250).reasons).toEqual(["p99 324.351 ms > 250 ms"]);
    const messages = (fanout as unknown as { messages: Record<string, number> }).messages;
    expect(step({ messages: { ...messages, lost: 3, duplicates: 1, outOfOrder: 2 } }).reasons).toEqual([
      "3 lost",
      "1 duplicated",
      "2 out of order",
    ]);
    expect(step({}, 400, 20).reasons).toEqual(["published 10.0/s of 20/s"]);
  });

  it("tells a step that failed on p99 alone (it gets a second try) from one that lost or fell behind", () => {
    const messages = (fanout as unknown as { messages: Record<string, number> }).messages;
    expect(latencyOnly(step({}, 250))).toBe(true);
    expect(latencyOnly(step({}, 400))).toBe(false); // sustained
    expect(latencyOnly(step({ messages: { ...messages, lost: 3 } }, 250))).toBe(false);
    expect(latencyOnly(step({}, 250, 20))).toBe(false); // the publisher behind as well
  });
});

describe("bench/peers scale-out cost at the same rates", () => {
  const at = (rate: number, pass: boolean, cpuUsPerDelivery: number) => ({ rate, pass, reasons: [], cpuUsPerDelivery });
  const systems = [
    { key: "hubcast-redis-1", label: "1 node", steps: [at(2, true, 15), at(2.8, true, 14), at(3.92, true, 11)] },
    // a second try that passed counts; the failed first try at the same rate does not
    {
      key: "hubcast-redis-3",
      label: "3 nodes",
      steps: [at(2, true, 13), at(2.8, false, 99), at(2.8, true, 12), at(3.92, false, 9)],
    },
    { key: "socketio", label: "not in the series", steps: [at(2, true, 40)] },
  ];

  it("compares the deployments at each rate all of them sustained, not at their own knees", () => {
    const cost = scaleOutCostByRate(systems) as {
      rates: number[];
      rows: { key: string; cpuUsPerDelivery: number[] }[];
    };
    expect(cost.rates).toEqual([2, 2.8]);
    expect(cost.rows).toEqual([
      { key: "hubcast-redis-1", label: "1 node", cpuUsPerDelivery: [15, 14] },
      { key: "hubcast-redis-3", label: "3 nodes", cpuUsPerDelivery: [13, 12] },
    ]);
    expect(scaleOutCostMarkdownTable(systems)).toBe(
      [
        "| deployment | µs per delivery at 2/s | µs per delivery at 2.8/s |",
        "| --- | --- | --- |",
        "| 1 node | 15.0 | 14.0 |",
        "| 3 nodes | 13.0 | 12.0 |",
      ].join("\n"),
    );
  });

  it("compares every system at each rate any sustained, sorted as the knee table, – where one did not", () => {
    const every = [
      { ...systems[0], knee: { deliveriesPerS: 39_200 } },
      { ...systems[2], knee: { deliveriesPerS: 20_000 } },
      { ...systems[1], knee: { deliveriesPerS: 28_000 } },
    ];
    expect(costByRateMarkdownTable(every)).toBe(
      [
        "| system | µs at 2/s | µs at 2.8/s | µs at 3.92/s |",
        "| --- | --- | --- | --- |",
        "| 1 node | 15.0 | 14.0 | 11.0 |",
        "| 3 nodes | 13.0 | 12.0 | – |",
        "| not in the series | 40.0 | – | – |",
      ].join("\n"),
    );
    expect(costByRateMarkdownTable([{ ...systems[1], steps: [at(2, false, 1)] }])).toBeUndefined();
  });

  it("has no table for one deployment, or when no rate was sustained by all", () => {
    expect(scaleOutCostMarkdownTable(systems.slice(0, 1))).toBeUndefined();
    expect(scaleOutCostMarkdownTable([systems[0], { ...systems[1], steps: [at(2, false, 1)] }])).toBeUndefined();
  });
});

describe("bench/peers knee charts", () => {
  it("draws one point per rate, the try that counted, at the deliveries/s offered; unjudged steps and missing values left out", () => {
    const steps = [
      { rate: 2, pass: true, p99Ms: 100 },
      { rate: 2.8, pass: false, p99Ms: 400 }, // a first try
      { rate: 2.8, pass: true, p99Ms: 200 }, // its second try counts
      { rate: 3.92, pass: false, p99Ms: undefined },
      { rate: 5.49, pass: false, stopped: true, p99Ms: 900 },
    ];
    const points = (
      ladderPoints as (s: unknown, n: number, v: (step: { p99Ms?: number }) => number | undefined) => unknown
    )({ steps }, 10_000, (step) => step.p99Ms);
    expect(points).toEqual([
      { x: 20_000, y: 100 },
      { x: 28_000, y: 200 },
    ]);
  });
});
