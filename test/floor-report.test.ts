import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
// bench/floor is a plain-JS tool outside the workspaces; its report is checked here.
// @ts-expect-error: an .mjs module without types
import { markdownReport, textReport } from "../bench/floor/lib/report.mjs";

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
});
