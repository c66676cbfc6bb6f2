import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
// bench/floor is a plain-JS tool outside the workspaces; its report is checked here.
// @ts-expect-error: an .mjs module without types
import { markdownReport, slope, summarizeMemory, textReport } from "../bench/floor/lib/report.mjs";

/** A full run of bench/floor, as written to results/ (figures that were not measured come back as null). */
const run = JSON.parse(
  readFileSync(new URL("../bench/floor/results/2026-12-07T0144.json", import.meta.url), "utf8"),
) as { write: Record<string, unknown>[] };

describe("bench/floor's report", () => {
  it("prints a figure that was not measured (null after the process boundary) as –, and does not throw", () => {
    const corked = run.write.find((w) => w["variant"] === "corked");
    expect(corked?.["settledMsMax"]).toBeNull(); // the run that used to end in a TypeError
    const text = (textReport as (r: unknown) => string)(run);
    expect(text).toContain("10 frames corked per socket");
    expect(text).toMatch(/– \/ –/);
    expect((markdownReport as (r: unknown) => string)(run)).toContain("Memory floor");
  });

  it("reads the memory per connection once warm as the slope of RSS over the step readings", () => {
    expect(
      (slope as (p: number[][]) => number)([
        [1, 10],
        [2, 13],
        [3, 16],
        [4, 19],
      ]),
    ).toBe(3);
    const stepped = JSON.parse(
      readFileSync(new URL("../bench/floor/results/2026-12-07T1238.json", import.meta.url), "utf8"),
    ) as { raw: { memory: { steps: { connections: number; rss: number }[] }[] }; memory: Record<string, number>[] };
    const raw = stepped.raw.memory[0];
    expect(raw?.steps.map((s) => s.connections)).toEqual([2_500, 5_000, 7_500, 10_000]);
    // The summary written with the run is what summarizing its raw readings gives.
    expect((summarizeMemory as (r: unknown) => Record<string, number>)(raw)).toEqual(stepped.memory[0]);
  });
});
