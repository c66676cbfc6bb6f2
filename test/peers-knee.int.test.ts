import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const KNEE = fileURLToPath(new URL("../bench/peers/knee.mjs", import.meta.url));
/** A smoke-sized sweep: 200 subscribers, half-second steps. Neither peer needs `npm install` in bench/peers. */
const SMALL = [
  "--connections",
  "200",
  "--start-rate",
  "50",
  "--step-duration",
  "0.5",
  "--warmup",
  "0.2",
  "--refine",
  "0",
];

interface Step {
  rate: number;
  pass: boolean;
  reasons: string[];
  phase: string;
  deliveriesPerS?: number;
  serverCpuPercent?: number;
  deliveriesPerSPerCore?: number;
  /** Set on a step that failed on p99 alone and was run again: what the first try saw. */
  firstTry?: { p99Ms: number; reasons: string[] };
}
interface SystemKnee {
  key: string;
  label: string;
  outcome: string;
  steps: Step[];
  knee?: Step;
  failed?: Step;
  error?: string;
}
interface KneeRun {
  options: { connections: number; p99BoundMs: number };
  machine: { cpus: number };
  systems: SystemKnee[];
  raw: Record<string, { rate: number; result: { server: { targets: { name: string }[] } } }[]>;
}

const outDirs: string[] = [];
afterAll(() => {
  for (const dir of outDirs) rmSync(dir, { recursive: true, force: true });
});

/** Runs a sweep into a fresh folder; resolves with its exit code, output and the report it wrote. */
async function sweep(args: string[]) {
  const out = mkdtempSync(join(tmpdir(), "hubcast-knee-test-"));
  outDirs.push(out);
  const child = spawn(process.execPath, [KNEE, ...SMALL, ...args, "--out", out], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  const files = readdirSync(out);
  const json = files.find((f) => f.endsWith("-knee.json"));
  const md = files.find((f) => f.endsWith("-knee.md"));
  const html = files.find((f) => f.endsWith("-knee.html"));
  if (json === undefined || md === undefined || html === undefined)
    throw new Error(`no report written (exit ${code}): ${stderr}`);
  const run = JSON.parse(readFileSync(join(out, json), "utf8")) as KneeRun;
  return {
    code,
    stdout,
    stderr,
    run,
    markdown: readFileSync(join(out, md), "utf8"),
    html: readFileSync(join(out, html), "utf8"),
  };
}

/** Every process a sweep started is gone: its servers (named by its work folder) and every server pid measured. */
function expectNothingLeft(stderr: string, run: KneeRun): void {
  const workDir = /logs in (\S+)/.exec(stderr)?.[1];
  expect(workDir).toBeDefined();
  const running = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
  expect(running).not.toContain(workDir);
  const pids = Object.values(run.raw).flatMap((steps) =>
    steps.flatMap((s) => s.result.server.targets.map((t) => Number(t.name.slice("pid:".length)))),
  );
  expect(pids.length).toBeGreaterThan(0);
  for (const pid of pids) expect(() => process.kill(pid, 0), `pid ${pid} still runs`).toThrow();
}

describe("bench/peers knee sweep (smoke)", () => {
  it("sweeps Hubcast and a peer, and reports each knee as its steps show it, sorted by deliveries/s", async () => {
    const { code, stdout, stderr, run, markdown, html } = await sweep([
      "--only",
      "hubcast,hubcast-pusher",
      "--max-steps",
      "2",
    ]);
    expect(code, stderr).toBe(0);
    expect(run.options).toMatchObject({ connections: 200, p99BoundMs: 250 });
    expect(run.systems.map((s) => s.key)).toEqual(["hubcast", "hubcast-pusher"]);
    for (const s of run.systems) {
      expect(s.error).toBeUndefined();
      // Whether a step passes depends on this machine's load; how the report follows from the steps does not.
      expect(s.steps[0]?.rate).toBe(50);
      expect(s.steps[1]?.rate).toBe(s.steps[0]?.pass ? 70 : 35.7);
      for (const step of s.steps) expect(step.pass).toBe(step.reasons.length === 0);
      const passed = s.steps.filter((step) => step.pass);
      const failed = s.steps.filter((step) => !step.pass);
      expect(s.knee?.rate).toBe(passed.length === 0 ? undefined : Math.max(...passed.map((p) => p.rate)));
      if (failed.length === 0) expect(s.outcome).toBe("above-ladder");
      else if (passed.length === 0) expect(s.outcome).toBe("below-ladder");
      else expect(s.outcome).toBe("found");
      if (s.failed !== undefined) expect(s.failed.reasons.length).toBeGreaterThan(0);
      if (s.knee !== undefined) {
        expect(s.knee.deliveriesPerS).toBeGreaterThan(0);
        expect(s.knee.deliveriesPerSPerCore).toBe(
          Math.round((s.knee.deliveriesPerS as number) / ((s.knee.serverCpuPercent as number) / 100)),
        );
      }
      // Each step's bench result is kept, a first try's too.
      expect(run.raw[s.key]).toHaveLength(s.steps.length + s.steps.filter((step) => step.firstTry).length);
      expect(stderr).toContain(`knee: ${s.label}: step 1 (ladder) 50/s`);
    }
    const knees = [...run.systems].sort((a, b) => (b.knee?.deliveriesPerS ?? -1) - (a.knee?.deliveriesPerS ?? -1));
    const rows = markdown.split("\n").filter((line) => run.systems.some((s) => line.startsWith(`| ${s.label} |`)));
    expect(markdown).toContain("## Knee per system");
    expect(rows.slice(0, 2).map((row) => row.split(" | ")[0])).toEqual(knees.map((s) => `| ${s.label}`));
    expect(markdown).toContain("## Every step");
    expect(stdout).toMatch(/^system +knee pub\/s +deliveries\/s/m);
    // The HTML page charts every system's ladder, latency and CPU, with the bound.
    for (const chart of ["p99-by-rate", "cpu-by-rate"]) expect(html).toContain(`data-chart="${chart}"`);
    for (const s of run.systems) expect(html.match(new RegExp(`data-series="${s.key}"`, "g"))).toHaveLength(2);
    expect(html).toContain('data-series="bound"');
    expectNothingLeft(stderr, run);
  }, 60_000);

  it("reports no knee, and every failed step with its reason, when no step can meet the bound", async () => {
    const { code, stderr, run, markdown } = await sweep([
      "--only",
      "hubcast",
      "--p99-bound",
      "0.001",
      "--max-steps",
      "2",
    ]);
    expect(code, stderr).toBe(0);
    const [hubcast] = run.systems;
    expect(hubcast).toMatchObject({ key: "hubcast", outcome: "below-ladder", failed: { rate: 35.7 } });
    expect(hubcast?.knee).toBeUndefined();
    // The ladder descends from a failed first step, each on freshly started servers; a step that
    // failed on p99 alone got a second try, which failed too.
    expect(hubcast?.steps.map((s) => s.rate)).toEqual([50, 35.7]);
    for (const step of hubcast?.steps ?? []) {
      expect(step.reasons).toContainEqual(expect.stringMatching(/^p99 [\d.]+ ms > 0\.001 ms$/));
      expect(step.firstTry?.reasons).toEqual([expect.stringMatching(/^p99 [\d.]+ ms > 0\.001 ms$/)]);
    }
    expect(run.raw["hubcast"]).toHaveLength(4);
    expect(stderr).toContain("knee: Hubcast, one node: step 2 (ladder, second try) 50/s");
    expect(markdown).toContain("(second try; the first: p99 ");
    expect(markdown).toMatch(
      /\| Hubcast, one node \| – \|.*\| every step failed; the lowest: 35\.7\/s: p99 [\d.]+ ms > 0\.001 ms/,
    );
    expectNothingLeft(stderr, run);
  }, 40_000);
});
