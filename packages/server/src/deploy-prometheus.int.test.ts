import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { DEPLOY_DIR, findBinary } from "../../../test/support/load-balancers.js";

// The shipped alerting rules, checked by Prometheus' own promtool: the file loads, and its unit
// tests (deploy/prometheus/hubcast-rules.test.yml) fire the alerts they expect from synthetic
// series. That every metric the rules read exists is checked in deploy-monitoring.int.test.ts.

const PROMTOOL = findBinary("promtool");
const RULES = join(DEPLOY_DIR, "prometheus", "hubcast-rules.yml");
const RULE_TESTS = join(DEPLOY_DIR, "prometheus", "hubcast-rules.test.yml");
const NEEDS = "(skipped unless promtool is installed: apt-get install prometheus)";

if (PROMTOOL === undefined)
  console.warn(
    "deploy-prometheus.int.test.ts: promtool is not installed, so its tests are skipped (apt-get install prometheus)",
  );

/** Runs promtool with `args`; resolves with its output whatever its exit status, which is `status`. */
async function promtool(args: string[]): Promise<{ status: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(PROMTOOL ?? "promtool", args, { timeout: 15_000 });
    return { status: 0, output: stdout + stderr };
  } catch (err) {
    const failed = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number") throw err; // not started, or killed by the timeout
    return { status: failed.code, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

describe("deploy/prometheus/hubcast-rules.yml", () => {
  it.skipIf(PROMTOOL === undefined)(`is a valid rules file for Prometheus ${NEEDS}`, async () => {
    const { status, output } = await promtool(["check", "rules", RULES]);
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
    expect(status, output).toBe(0);
  });

  it.skipIf(PROMTOOL === undefined)(
    `passes its unit tests: alerts fire from synthetic series, and do not when they should not ${NEEDS}`,
    async () => {
      const { status, output } = await promtool(["test", "rules", RULE_TESTS]);
      expect(status, output).toBe(0);
      expect(output).toContain("SUCCESS");
    },
  );
});
