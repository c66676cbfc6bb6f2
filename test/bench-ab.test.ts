import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("../bench/ab/run.sh", import.meta.url));

// The A/B run itself takes minutes and its figures belong in docs/performance.md, not in a test;
// these check that it explains itself and refuses what it cannot measure before starting anything.
describe("bench/ab/run.sh", () => {
  it("prints its usage for --help and without arguments, with exit status 2", () => {
    for (const args of [["--help"], []]) {
      const run = spawnSync("bash", [SCRIPT, ...args], { encoding: "utf8" });
      expect(run.status).toBe(2);
      expect(run.stdout).toMatch(/^Usage: bench\/ab\/run\.sh <checkout A> <checkout B>/m);
    }
  });

  it("names a checkout that is not built, and starts nothing", () => {
    const empty = mkdtempSync(join(tmpdir(), "hubcast-ab-"));
    try {
      const run = spawnSync("bash", [SCRIPT, empty, empty], { encoding: "utf8" });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(`${empty} is not built; run npm run build there`);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
