import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCli } from "../../../../test/support/processes.js";

const BIN = fileURLToPath(new URL("../../bin/hubcast-bench.js", import.meta.url));

/** Runs the `hubcast-bench` bin (built: `npm run build` first) to completion. */
function runBenchBin(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

// Every case fails before any connection is made: no server is needed.
const MISUSES: [args: string[], stderr: string][] = [
  [["fanot"], `unknown scenario "fanot"; did you mean "fanout"? (see 'hubcast bench --help')`],
  [["cross_node"], `unknown scenario "cross_node"; did you mean "cross-node"? (see 'hubcast bench --help')`],
  [["soak"], `unknown scenario "soak"; use one of: connect, fanout, chat, cross-node (see 'hubcast bench --help')`],
  [
    ["fanout", "--conections", "10"],
    "unknown option '--conections'; did you mean --connections? (see 'hubcast bench fanout --help')",
  ],
  [["chat", "--member=5"], "unknown option '--member'; did you mean --members? (see 'hubcast bench chat --help')"],
  [
    ["connect", "--ramprate", "5"],
    "unknown option '--ramprate'; did you mean --ramp-rate? (see 'hubcast bench connect --help')",
  ],
  [["fanout", "--verbose"], "unknown option '--verbose' (see 'hubcast bench fanout --help')"],
  [
    ["--connections", "10", "fanout"],
    "the scenario comes first, before '--connections': hubcast bench <connect|fanout|chat|cross-node> [options] (see 'hubcast bench --help')",
  ],
  [["fanout", "--url"], "--url needs a value (see 'hubcast bench fanout --help')"],
  [["fanout", "--rate", "fast"], `--rate expects a number, got "fast" (see 'hubcast bench fanout --help')`],
];

describe("hubcast-bench and hubcast bench on a misused command line", () => {
  it("exit 2 with one line that names the problem, the likely fix and where the options are", async () => {
    const runs = await Promise.all(
      MISUSES.flatMap(([args]) => [runBenchBin(args), runCli(["bench", ...args], {}, 15_000)]),
    );
    MISUSES.forEach(([args, message], i) => {
      for (const run of [runs[2 * i], runs[2 * i + 1]]) {
        expect(run?.code, args.join(" ")).toBe(2);
        expect(run?.stderr, args.join(" ")).toBe(`hubcast bench: ${message}\n`);
        expect(run?.stdout).toBe("");
      }
    });
  });

  it("without a scenario print the help on stderr and exit 2; with --help on stdout and exit 0", async () => {
    for (const run of await Promise.all([runBenchBin([]), runCli(["bench"])])) {
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("Usage: hubcast bench <scenario> [options]");
      expect(run.stdout).toBe("");
    }
    for (const run of await Promise.all([runBenchBin(["--help"]), runCli(["bench", "fanout", "--help"])])) {
      expect(run.code).toBe(0);
      expect(run.stdout).toContain("Usage: hubcast bench");
    }
  });
});
