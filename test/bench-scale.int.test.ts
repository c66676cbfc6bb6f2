import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
// bench/scale is a plain-JS tool outside the workspaces; its plan and its process lookup are used here.
// @ts-expect-error: an .mjs module without types
import { makePlan } from "../bench/scale/lib/plan.mjs";
// @ts-expect-error: an .mjs module without types
import { groupMembers } from "../bench/scale/lib/processes.mjs";

const SCRIPT = fileURLToPath(new URL("../bench/scale/run.mjs", import.meta.url));

/** A smoke run: 2,000 connections on 2 server processes from 2 bench processes, a few seconds of broadcasts. */
const SMOKE = ["--connections", "2000", "--workers", "2", "--processes", "2"];
const SMOKE_LOAD = [
  "--broadcast-interval",
  "1",
  "--channels",
  "2",
  "--warmup",
  "1",
  "--duration",
  "3",
  "--ramp-rate",
  "2000",
];

type Run = { code: number | null; stdout: string; stderr: string };

/** Runs the script to its end; `onStderr` sees its stderr as it comes, with the child to signal. */
function runScale(
  args: string[],
  onStderr?: (text: string, signal: (s: NodeJS.Signals) => void) => void,
): Promise<Run> {
  const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
    onStderr?.(stderr, (s) => child.kill(s));
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

/** Every pid scale.json says the run had, and those of them, or of the servers' and the bench's process groups, that still run. */
function leftovers(record: {
  processes: Record<string, { pids: number[] }>;
  server: { pids: number[]; redisPid?: number };
  bench: { pid?: number };
}): { pids: number[]; alive: number[] } {
  const pids = Object.values(record.processes).flatMap((p) => p.pids);
  const leaders = [
    ...record.server.pids,
    ...(record.server.redisPid === undefined ? [] : [record.server.redisPid]),
    ...(record.bench.pid === undefined ? [] : [record.bench.pid]),
  ];
  const alive = (groupMembers(leaders) as { pid: number }[]).map((p) => p.pid);
  for (const pid of pids) {
    const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, "utf8") : "";
    if (stat !== "" && !/\) Z /.test(stat)) alive.push(pid);
  }
  return { pids, alive };
}

const machine = {
  cores: 2,
  openFiles: { soft: 20_000, hard: 20_000 },
  fileMax: 2_466_248,
  filesAllocated: 3_000,
  nrOpen: 1_048_576,
  portRange: [32_768, 60_999],
  somaxconn: 4096,
  tcpMaxSynBacklog: 2048,
  tcpTwReuse: 2,
  tcpMemPages: [287_907, 383_879, 575_814],
  pageBytes: 4096,
  memory: { totalBytes: 24 * 2 ** 30, availableBytes: 22 * 2 ** 30 },
};
const floor = { serverUsPerWrite: 9.16, clientUsPerWrite: 9.75, source: "test" };
const options = (o: Record<string, unknown>) => ({
  connections: 250_000,
  topology: "nodes",
  broadcastInterval: 5,
  channels: 5,
  rampRate: 1500,
  warmup: 5,
  duration: 60,
  drainWindowMs: 5000,
  budget: 900,
  ...o,
});

describe("bench/scale/run.mjs", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const outDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), "hubcast-scale-"));
    dirs.push(dir);
    return join(dir, "out");
  };

  it("plans 250,000 connections on a 20,000-file limit: 20 nodes, 14 bench processes, unbound sockets, and a broadcast every 5 s within the floor", () => {
    const plan = makePlan(options({}), machine, { floor });
    expect(plan.topology).toBe("nodes");
    expect(plan.checks.find((c: { name: string }) => c.name === "server nodes").level).toBe("ok");
    // 20 destination ports of 12,501 connections each, within 90 % of the 14,116 ports of one
    // parity that connect() takes first; no binds. The open-files limit alone would need 14.
    expect([plan.workers, plan.processes, plan.sourceAddresses, plan.destinations, plan.total]).toEqual([
      20, 14, 1, 20, 250_005,
    ]);
    // Fewer nodes than that: refused, with the count that fits.
    const crowded = makePlan(options({ workers: 14 }), machine, { floor });
    expect(crowded.failed.map((c: { fix: string }) => c.fix)).toEqual([
      'use --workers 20 or more, or widen the range: sysctl -w net.ipv4.ip_local_port_range="1024 65535"',
    ]);
    expect(plan.load.rate).toBe(1);
    expect(plan.load.deliveriesPerS).toBe(50_000);
    expect(plan.load.share).toBeCloseTo((50_000 * (9.16 + 9.75)) / 1e6 / 2, 6);
    expect(plan.failed).toEqual([]);
    // Memory per connection as measured for each topology: a node's own 2 KiB (9.2 KiB in cluster
    // mode, the primary's sockets in flight included), the kernel's 10 KiB, the bench's 6.4 KiB.
    const memory = (p: { checks: { name: string; need: string }[] }) =>
      p.checks.find((c) => c.name === "free memory (MemAvailable)")?.need;
    expect(memory(plan)).toMatch(/: 18\.4 KiB per connection/);
    expect(memory(makePlan(options({ topology: "cluster" }), machine, { floor }))).toMatch(
      /: 25\.6 KiB per connection/,
    );
    // A broadcast every second is twice what the box has at the floor: a warning with the interval that fits.
    const everySecond = makePlan(options({ broadcastInterval: 1 }), machine, { floor });
    const rate = everySecond.checks.find((c: { name: string }) => c.name === "delivery rate against the floor");
    expect(rate.level).toBe("warn");
    expect(rate.fix).toBe("use --broadcast-interval 5 or more; deliveries will fall behind otherwise");
    // Nodes share a redis-server of the run's own: without one on the PATH, refused with the fix.
    const noRedis = makePlan(options({}), machine, { floor, missingRedis: true });
    expect(noRedis.failed.map((c: { fix: string }) => c.fix)).toEqual([
      "install it (apt-get install redis-server), or use --topology cluster",
    ]);
    // In cluster mode every connection goes to one port: 12 bound source addresses, with a
    // warning, since binds that many ports per address stalled the kernel.
    const cluster = makePlan(options({ topology: "cluster" }), machine, { floor });
    expect([cluster.sourceAddresses, cluster.destinations]).toEqual([12, 1]);
    const binds = cluster.checks.find((c: { name: string }) => c.name === "source-address binds");
    expect(binds).toMatchObject({
      level: "warn",
      fix: "use --topology nodes (one destination port per node, no binds needed)",
    });
    // Too few workers for the open-files limit, and too few source addresses for the ports: refused, with the fix.
    const short = makePlan(options({ topology: "cluster", workers: 10, sourceAddresses: 8 }), machine, { floor });
    expect(short.failed.map((c: { fix: string }) => c.fix)).toEqual([
      "use --workers 14 or more (or raise the open-files hard limit)",
      'use --source-addresses 12, or widen the range: sysctl -w net.ipv4.ip_local_port_range="1024 65535"',
    ]);
  });

  it("explains itself, and refuses a plan that does not fit before starting anything", async () => {
    const help = await runScale(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: node bench\/scale\/run\.mjs \[options\]/);
    const misuse = await runScale(["--connections", "many"]);
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toContain('--connections expects a whole number, got "many"');
    const out = outDir();
    const tooSlow = await runScale(["--budget", "60", "--out", out]);
    expect(tooSlow.code).toBe(2);
    expect(tooSlow.stderr).toMatch(/cannot run: time budget \(use --budget \d+, or a faster --ramp-rate\)/);
    expect(existsSync(out)).toBe(false);
  });

  it("runs a small run on two nodes sharing its own Redis end to end: every connection held, every delivery once, the reports written, nothing left running", async () => {
    const out = outDir();
    const run = await runScale([...SMOKE, ...SMOKE_LOAD, "--out", out]);
    expect(run.stderr).toContain("scale: held: every connection, every delivery once and in order");
    expect(run.code).toBe(0);
    const files = ["result.json", "report.html", "summary.md", "scale.json", "server-1.log", "server-2.log"];
    for (const file of [...files, "redis.log", "bench.log"]) expect(existsSync(join(out, file)), file).toBe(true);
    const result = JSON.parse(readFileSync(join(out, "result.json"), "utf8"));
    expect(result.connections).toMatchObject({ requested: 2000, publishers: 2, ready: 2002, failed: 0, dropped: 0 });
    expect(result.messages).toMatchObject({ lost: 0, duplicates: 0, outOfOrder: 0 });
    expect(result.messages.deliveries).toBe(result.messages.expectedDeliveries);
    expect(result.options).toMatchObject({ channels: 2, publishers: 2, rate: 2, processes: 2 });
    // Unbound: with a port per node, connect() finds ports per destination.
    expect(result.options.sourceAddresses).toEqual([]);
    // The bench spread its connections over both nodes, and read both nodes' /metrics.
    expect(result.options.urls).toHaveLength(2);
    expect(result.server.targets).toHaveLength(2);

    const record = JSON.parse(readFileSync(join(out, "scale.json"), "utf8"));
    expect(record).toMatchObject({ tool: "hubcast-scale", ok: true, reasons: [], leftover: [] });
    expect(record.plan).toMatchObject({
      topology: "nodes",
      workers: 2,
      processes: 2,
      sourceAddresses: 1,
      destinations: 2,
    });
    expect(record.server.exit).toEqual({ exitCode: 0, killed: false });
    expect(record.server.liveness).toEqual({
      pingIntervalMs: 120_000,
      pongTimeoutMs: 60_000,
      connectTimeoutMs: 120_000,
      idleTimeoutMs: 0,
    });
    expect(record.server.cost.source).toBe("2 nodes' /metrics, added up");
    expect(record.server.cost.rssBytesPerConnection).toBeGreaterThan(0);
    expect(record.server.cost.cpuMicrosPerDelivery).toBeGreaterThan(0);
    expect(record.metrics.maxConnections).toBe(2002);
    expect(record.processes["server node"].processes).toBe(2);
    expect(record.processes.redis.processes).toBe(1);
    expect(record.processes["bench process"].processes).toBe(2);
    // Each side's processes held their share of the connections: about 1,001 descriptors each.
    expect(record.processes["server node"].fdsWhenConnected.min).toBeGreaterThan(1000);
    expect(record.processes["bench process"].maxFdsPerProcess).toBeGreaterThan(1000);
    expect(record.checks.map((c: { name: string }) => c.name)).toEqual(
      expect.arrayContaining([
        "net.core.somaxconn",
        "net.ipv4.ip_local_port_range",
        "fs.file-max",
        "free memory (MemAvailable)",
      ]),
    );
    expect(record.phases.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(["server start", "bench ramp", "bench measure", "shutdown"]),
    );

    const summary = readFileSync(join(out, "summary.md"), "utf8");
    expect(summary).toMatch(/^# 2,000 connections on 2 nodes sharing one Redis/);
    expect(summary).toContain("**Held**: 2,002 of 2,002 connections held");
    for (const section of ["Processes and descriptors", "Source addresses and ports", "Kernel settings", "Server cost"])
      expect(summary).toContain(`## ${section}`);

    const { pids, alive } = leftovers(record);
    expect(pids.length).toBeGreaterThanOrEqual(6);
    expect(alive).toEqual([]);
  }, 90_000);

  it("runs in cluster mode too, and stops everything it started on Ctrl-C, still writing what ran", async () => {
    const out = outDir();
    let sent = false;
    const args = [...SMOKE, ...SMOKE_LOAD, "--topology", "cluster", "--source-addresses", "2", "--duration", "30"];
    const run = await runScale([...args, "--out", out], (text, signal) => {
      if (!sent && text.includes("bench: fanout ramp")) {
        sent = true;
        signal("SIGINT");
      }
    });
    expect(sent).toBe(true);
    expect(run.code).toBe(130);
    const record = JSON.parse(readFileSync(join(out, "scale.json"), "utf8"));
    expect(record.ok).toBe(false);
    expect(record.reasons[0]).toMatch(/^stopped early: SIGINT/);
    expect(record.leftover).toEqual([]);
    expect(record.bench.pid).toBeGreaterThan(0);
    expect(record.plan).toMatchObject({ topology: "cluster", sourceAddresses: 2, destinations: 1 });
    expect(record.processes["server primary"].processes).toBe(1);
    expect(record.processes["server worker"].processes).toBe(2);
    const { alive } = leftovers(record);
    expect(alive).toEqual([]);
  }, 90_000);
});
