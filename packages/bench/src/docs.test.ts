import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BENCH_FLAG_NAMES, parseBenchArgs, scenarioHelp } from "./cli/args.js";
import { resolveBenchOptions, Scenario } from "./options.js";

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

  it("shows only `hubcast bench` commands that parse and resolve (the quick start runs in bench.int.test.ts)", () => {
    const blocks = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
    const commands = blocks
      .flatMap((block) => block.replace(/\\\n\s*/g, " ").split("\n"))
      .map((line) => line.trim())
      .filter((line) => /^(npx )?hubcast bench /.test(line));
    expect(commands.length).toBeGreaterThanOrEqual(6);
    for (const command of commands) {
      const args = command.replace(/^(npx )?hubcast bench /, "").split(/\s+/);
      const parsed = parseBenchArgs(args, {});
      expect("options" in parsed, command).toBe(true);
      if ("options" in parsed) expect(() => resolveBenchOptions(parsed.options), command).not.toThrow();
    }
  });
});
