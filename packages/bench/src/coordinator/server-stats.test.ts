import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { targetStats } from "../report/result.js";
import { ProcSource, promValue } from "./server-stats.js";

/** Spends about `ms` of CPU in this process, part of it in the kernel (small file reads). */
function burn(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) readFileSync("/proc/self/stat");
}

describe("server stats", () => {
  it("reads a process's CPU time from /proc with the kernel's part apart, and its RSS", async () => {
    const source = new ProcSource(process.pid);
    const before = await source.sample();
    burn(300);
    const after = await source.sample();
    expect(before.error).toBeUndefined();
    expect(after.rssBytes).toBeGreaterThan(0);
    expect(after.cpuSeconds ?? 0).toBeGreaterThan(before.cpuSeconds ?? 0);
    expect(after.systemCpuSeconds ?? 0).toBeGreaterThan(before.systemCpuSeconds ?? 0);
    expect(after.systemCpuSeconds ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(after.cpuSeconds ?? 0);
  });

  it("says what to check when the pid is not a running process", async () => {
    const sample = await new ProcSource(2 ** 22 + 1).sample(); // above Linux's pid_max limit
    expect(sample.error).toMatch(/cannot read \/proc\/4194305 .*is --server-pid 4194305 a running process/);
  });

  it("divides the measured window's CPU, and its kernel part, by the deliveries", () => {
    const stats = targetStats(
      { name: "pid:1", kind: "proc" },
      {
        baseline: { atMs: 0, cpuSeconds: 1, systemCpuSeconds: 0.5, rssBytes: 1_000 },
        measureStart: { atMs: 10_000, cpuSeconds: 2, systemCpuSeconds: 1 },
        measureEnd: { atMs: 20_000, cpuSeconds: 9, systemCpuSeconds: 6 },
      },
      { connectionsAdded: 0, measuredDeliveries: 1_000_000, targets: 1 },
    );
    expect(stats.cpuMicrosPerDelivery).toBe(7);
    expect(stats.systemCpuMicrosPerDelivery).toBe(5);
    expect(stats.cpuPercent).toBe(70);
    // A source without the split (an older node's metrics) leaves the kernel's part unknown.
    const unsplit = targetStats(
      { name: "http://node/metrics", kind: "metrics" },
      { baseline: { atMs: 0 }, measureStart: { atMs: 0, cpuSeconds: 2 }, measureEnd: { atMs: 1_000, cpuSeconds: 3 } },
      { connectionsAdded: 0, measuredDeliveries: 1_000, targets: 1 },
    );
    expect(unsplit.cpuMicrosPerDelivery).toBe(1_000);
    expect(unsplit.systemCpuMicrosPerDelivery).toBeUndefined();
  });

  it("reads the kernel's part from a node's metrics", () => {
    const text = [
      "# TYPE hubcast_process_cpu_system_seconds_total counter",
      "hubcast_process_cpu_system_seconds_total 1.25",
      "hubcast_process_cpu_seconds_total 4.5",
    ].join("\n");
    expect(promValue(text, "hubcast_process_cpu_system_seconds_total")).toBe(1.25);
    expect(promValue(text, "hubcast_process_cpu_seconds_total")).toBe(4.5);
  });
});
