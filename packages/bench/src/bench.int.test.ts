import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, ServerProcess } from "../../../test/support/processes.js";
import { startBenchNode } from "../../../test/support/bench-node.js";
import type { BenchResult } from "./report/result.js";

const CLI = fileURLToPath(new URL("../../server/dist/cli/main.js", import.meta.url));

// Runs the built CLI (`npm run build` first), as `hubcast bench`, against a real node.
describe("hubcast bench against hubcast start", () => {
  let server: ServerProcess;
  const dirs: string[] = [];

  beforeAll(async () => {
    server = await startBenchNode();
  });

  afterAll(async () => {
    await server?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const outDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), "hubcast-bench-"));
    dirs.push(dir);
    return dir;
  };

  it("fanout: 200 subscribers over 2 processes and 2 source addresses get every publication once, in order", async () => {
    const out = outDir();
    const args = [
      "bench",
      "fanout",
      "--url",
      server.wsUrl,
      "--connections",
      "200",
      "--processes",
      "2",
      "--source-addresses",
      "2",
    ];
    args.push("--rate", "20", "--warmup", "0.5", "--duration", "2.5", "--out", out, "--json");
    const { code, stdout, stderr } = await runCli(args, {}, 30_000);
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as BenchResult;
    expect(result.options).toMatchObject({
      processes: 2,
      sourceAddresses: ["127.0.0.1", "127.0.0.2"],
      connections: 200,
    });
    expect(result.connections).toMatchObject({ ready: 201, failed: 0, dropped: 0 });
    const m = result.messages;
    expect(m.published).toBeGreaterThanOrEqual(50); // 20/s for 3 s
    expect(m.publishErrors).toBe(0);
    expect(m.deliveries).toBe(200 * m.published);
    expect(m.expectedDeliveries).toBe(m.deliveries);
    expect([m.lost, m.duplicates, m.outOfOrder, m.gaps]).toEqual([0, 0, 0, 0]);
    expect(result.latency.corrected).toBe(true);
    expect(result.latency.p50Ms).toBeGreaterThan(0);
    expect(result.latency.p99Ms).toBeGreaterThanOrEqual(result.latency.p50Ms);
    const [target] = result.server.targets;
    expect(target?.errors).toEqual([]);
    expect(target?.deliveriesCountedBy).toBe("server");
    expect(target?.cpuMicrosPerDelivery).toBeGreaterThan(0);
    // The node's metrics split its CPU time: the kernel's part is part of it.
    expect(target?.systemCpuMicrosPerDelivery).toBeGreaterThan(0);
    expect(target?.systemCpuMicrosPerDelivery).toBeLessThanOrEqual(target?.cpuMicrosPerDelivery ?? 0);
    expect(stderr).toMatch(/fanout measure .*conns 201\/201/);

    const written = JSON.parse(readFileSync(join(out, "result.json"), "utf8")) as BenchResult;
    expect(written.messages).toEqual(result.messages);
    // The phases, in order and back to back, on the timeline's clock.
    expect(result.phases.map((p) => p.phase)).toEqual(["ramp", "settle", "warmup", "measure", "drain"]);
    result.phases.forEach((p, i) => {
      expect(p.toS).toBeGreaterThanOrEqual(p.fromS);
      if (i > 0) expect(p.fromS).toBe(result.phases[i - 1]?.toS);
    });
    const measure = result.phases.find((p) => p.phase === "measure");
    expect((measure?.toS ?? 0) - (measure?.fromS ?? 0)).toBeCloseTo(2.5, 0);
    const measured = result.timeline.filter((p) => p.phase === "measure" && p.maxMs !== undefined);
    expect(measured.length).toBeGreaterThanOrEqual(1);
    for (const p of measured) expect(p.maxMs).toBeGreaterThanOrEqual(p.p99Ms ?? Number.POSITIVE_INFINITY);

    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html).toContain("Latency by percentile");
    expect(html).not.toMatch(/<script|<link|src=|href=/); // self-contained
    const chart = (key: string): string =>
      new RegExp(`<svg [^>]*data-chart="${key}"[^>]*>.*?</svg>`, "s").exec(html)?.[0] ?? "";
    const drawn = (svg: string, series: string): number =>
      (new RegExp(`<path data-series="${series}" d="([^"]*)"`).exec(svg)?.[1] ?? "").match(/[ML]/g)?.length ?? 0;
    for (const series of ["p50", "p99", "max"]) expect(drawn(chart("latency-over-time"), series)).toBeGreaterThan(0);
    expect(drawn(chart("publications"), "publications")).toBe(result.timeline.length);
    expect(drawn(chart("deliveries"), "deliveries")).toBe(result.timeline.length);
    for (const key of ["latency-over-time", "deliveries", "publications", "connections"])
      for (const phase of ["warmup", "measure"])
        expect(chart(key), `${key} ${phase}`).toContain(`data-band="${phase}"`);
  });

  it("connect: 500 connections are reported, with the server's memory per connection", async () => {
    const { code, stdout, stderr } = await runCli(
      ["bench", "connect", "--url", server.wsUrl, "--connections", "500", "--duration", "0.5", "--json"],
      {},
      30_000,
    );
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as BenchResult;
    expect(result.connections).toMatchObject({ requested: 500, ready: 500, failed: 0 });
    expect(result.connections.connectsPerS).toBeGreaterThan(0);
    expect(result.connections.connectTime.count).toBe(500);
    expect(result.server.targets[0]?.connectionsAdded).toBe(500);
    expect(result.server.rssBytesPerConnection).toBeDefined();
  });

  it("a Ctrl-C in the measured window ends the run with its summary, and rates over the time actually measured", {
    timeout: 30_000,
  }, async () => {
    const out = outDir();
    const args = [
      CLI,
      "bench",
      "fanout",
      "--url",
      server.wsUrl,
      "--connections",
      "50",
      "--rate",
      "10",
      "--warmup",
      "1",
      "--duration",
      "20",
      "--json",
      "--out",
      out,
    ];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // Off a terminal the progress line prints once a second: the second "measure" line means a second or more measured.
    await new Promise<void>((resolve) => {
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        if ((stderr.match(/^fanout measure /gm)?.length ?? 0) >= 2) resolve();
      });
    });
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    const result = JSON.parse(stdout) as BenchResult;
    expect(result.interrupted).toBe(true);
    expect(result.phases.map((p) => p.phase)).toEqual(["ramp", "settle", "warmup", "measure", "stopped"]);
    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html).toContain('data-band="stopped"');
    expect(html).toContain(">stopped early (Ctrl-C)</text>");
    expect(result.rates.measuredSeconds).toBeGreaterThan(0.5);
    expect(result.rates.measuredSeconds).toBeLessThan(5);
    // About the 10/s asked for, not that rate spread over the 20 s the run would have had.
    expect(result.rates.publishedPerS).toBeGreaterThanOrEqual(5);
    expect(result.rates.publishedPerS).toBeLessThanOrEqual(15);
  });

  it("runs the quick start of docs/bench.md: its config, its server flags and its bench command", {
    timeout: 40_000,
  }, async () => {
    const doc = readFileSync(new URL("../../../docs/bench.md", import.meta.url), "utf8");
    const block = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(doc)?.[1] ?? "";
    const [echo = "", start = "", wait = "", bench = "", stop = ""] = block.trim().split("\n");
    expect(stop).toBe("kill %1");
    const dir = outDir();
    // The shell lines as written (toward the test's port), in a directory of its own; hubcast through the built CLI.
    expect(spawnSync("bash", ["-c", echo], { cwd: dir }).status).toBe(0);
    const startArgs = start
      .replace(/^npx hubcast start /, "")
      .replace(/ &$/, "")
      .split(" ");
    const docServer = await ServerProcess.start([
      ...startArgs.map((a) => (a === "bench.json" ? join(dir, a) : a)),
      "--port",
      "0", // a free port instead of 8080, which may be taken
    ]);
    try {
      expect(spawnSync("bash", ["-c", wait.replace(":8080/", `:${docServer.port}/`)], { timeout: 5_000 }).status).toBe(
        0,
      );
      // As written, then: toward that port, scaled to a test's time, the reports into the temp dir.
      const benchArgs = bench.replace(/^npx hubcast /, "").split(" ");
      const scaled = ["--url", docServer.wsUrl, "--connections", "300", "--warmup", "0.5", "--duration", "2"];
      scaled.push("--out", join(dir, "out"));
      const { code, stdout, stderr } = await runCli([...benchArgs, ...scaled], {}, 30_000);
      expect(code, stderr).toBe(0);
      expect(stdout).toMatch(/lost \/ duplicated \/ out of order +0 \/ 0 \/ 0/);
      expect(readFileSync(join(dir, "out", "report.html"), "utf8")).toContain('data-chart="latency-over-time"');
    } finally {
      await docServer.stop();
    }
  });

  it("says what to fix when the target is down or the namespace is missing", async () => {
    const down = await runCli(["bench", "fanout", "--url", "ws://127.0.0.1:1/ws"], {}, 15_000);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("cannot reach ws://127.0.0.1:1/ws: connection refused");
    const missing = await runCli(["bench", "fanout", "--url", server.wsUrl, "--namespace", "nope"], {}, 15_000);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('"namespaces":{"nope":{"allowPublish":true}}');
    const misuse = await runCli(["bench", "fanout", "--rate", "fast"], {}, 15_000);
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toContain('--rate expects a number, got "fast"');
    // A bad --out is found before the run, not after it.
    const blocked = await runCli(
      ["bench", "fanout", "--url", "ws://127.0.0.1:1/ws", "--out", "/dev/null/reports"],
      {},
      15_000,
    );
    expect(blocked.code).toBe(2);
    expect(blocked.stderr).toContain("--out /dev/null/reports: cannot write the reports there: a file is in the way");
    expect(blocked.stderr).not.toContain("cannot reach");
    const help = await runCli(["bench", "chat", "--help"], {}, 15_000);
    expect(help.stdout).toContain("--members N");
  });
});
