import { afterEach, describe, expect, it } from "vitest";
import { RawClient } from "../../../../test/support/raw-client.js";
import { WorkerCluster } from "../../../../test/support/workers.js";

const clusters: WorkerCluster[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  const codes = await Promise.all(clusters.splice(0).map((c) => c.stop()));
  expect(codes.every((code) => code === 0)).toBe(true);
});

describe("least-connections balancing", () => {
  it("spreads 20 connections evenly over the workers, refills a restarted worker first, and workers share publications", async () => {
    const cluster = await WorkerCluster.start(["--balancing", "least-connections"]);
    clusters.push(cluster);
    expect(cluster.primaryLogs("hubcast listening")[0]).toMatchObject({ balancing: "least-connections", workers: 2 });
    // All at once: the primary counts sockets in flight, so a burst does not pile onto one worker.
    const opened = await Promise.all(Array.from({ length: 20 }, () => RawClient.connected(cluster.wsUrl)));
    clients.push(...opened);
    const nodes = await cluster.viewUntil(
      (n) => n.length === 2 && n.reduce((sum, node) => sum + node.connections, 0) === 20,
      "20 connections in the view",
    );
    for (const node of nodes) {
      expect(node.connections).toBeGreaterThanOrEqual(8);
      expect(node.connections).toBeLessThanOrEqual(12);
      expect(node.address).toBe(cluster.url);
    }
    for (const c of opened) await c.ok("subscribe", { channel: "chat:lc" });
    await (opened[0] as RawClient).ok("publish", { channel: "chat:lc", data: "to all" });
    for (const c of opened) await c.waitForPushes("publication", 1, "chat:lc");

    // Worker 1 dies with its connections; its fresh successor gets the new ones until it has caught up.
    const pid = cluster.workerPids().get(1) ?? 0;
    const seen = new Set(cluster.primaryLogs("worker ready").map((l) => l["workerPid"]));
    process.kill(pid, "SIGKILL");
    await cluster.primaryLog("worker ready", (l) => l["worker"] === 1 && !seen.has(l["workerPid"]));
    const survivors = await cluster.viewUntil(
      (n) => n.length === 2 && n.some((node) => node.connections === 0),
      "the fresh worker in the view",
    );
    const kept = survivors.reduce((sum, node) => sum + node.connections, 0);
    const more = await Promise.all(Array.from({ length: 20 - kept }, () => RawClient.connected(cluster.wsUrl)));
    clients.push(...more);
    const refilled = await cluster.viewUntil(
      (n) => n.reduce((sum, node) => sum + node.connections, 0) === 20,
      "20 connections again",
    );
    for (const node of refilled) expect(Math.abs(node.connections - 10)).toBeLessThanOrEqual(2);
  });
});
