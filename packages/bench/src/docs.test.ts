import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BENCH_FLAG_NAMES, scenarioHelp } from "./cli/args.js";
import { Scenario } from "./options.js";

const doc = readFileSync(new URL("../../../docs/bench.md", import.meta.url), "utf8");

describe("docs/bench.md matches the CLI", () => {
  it("documents every flag in its options table", () => {
    for (const flag of BENCH_FLAG_NAMES) {
      if (flag === "help") continue;
      expect(doc, flag).toMatch(new RegExp(`^\\| \`--${flag}[ \`,]`, "m"));
    }
  });

  it("has a section per scenario, and every scenario's help names only documented flags", () => {
    for (const scenario of Object.values(Scenario)) {
      expect(doc).toContain(`| \`${scenario}\` |`);
      for (const [, flag] of scenarioHelp(scenario).matchAll(/^ {2}(?:-h, )?--([a-z-]+)/gm)) {
        expect(BENCH_FLAG_NAMES).toContain(flag);
      }
    }
  });
});
