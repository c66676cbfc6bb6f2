import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../../../../test/support/eventually.js";
import { sample, scrapeFresh } from "../../../../test/support/scrape.js";
import { WorkerCluster } from "../../../../test/support/workers.js";

const clusters: WorkerCluster[] = [];
afterEach(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.stop()));
});

async function start(args: string[] = []): Promise<WorkerCluster> {
  const cluster = await WorkerCluster.start(args);
  clusters.push(cluster);
  return cluster;
}

/** Worker slot → its current node id, from the primary's "worker ready" lines. */
function nodeOf(cluster: WorkerCluster, slot: number): string {
  const line = cluster
    .primaryLogs("worker ready")
    .filter((l) => l["worker"] === slot)
    .at(-1);
  if (line === undefined) throw new Error(`worker ${slot} was never ready`);
  return line["node"] as string;
}

describe("/metrics in cluster mode", () => {
  it.each(["round-robin", "least-connections"])("answers for every worker on every scrape (%s)", async (balancing) => {
    const cluster = await start(["--balancing", balancing]);
    const clients = await cluster.spreadClients(6);
    for (const c of clients) await c.ok("subscribe", { channel: "chat:metrics" });
    const perWorker = (await cluster.nodes()).map((n) => n.connections);
    expect(perWorker).toHaveLength(2);
    expect(Math.max(...perWorker)).toBeLessThan(6); // one worker's share would not add up to 6
    // Each scrape is a fresh connection, so the scrapes are spread over the workers too.
    for (let i = 0; i < 8; i++) {
      const samples = await scrapeFresh(cluster.url);
      expect(sample(samples, "hubcast_connections"), `scrape ${i}`).toBe(6);
      expect(sample(samples, 'hubcast_connections_total{transport="websocket"}'), `scrape ${i}`).toBe(6);
      expect(sample(samples, "hubcast_subscriptions"), `scrape ${i}`).toBe(6);
      expect(sample(samples, "hubcast_ready"), `scrape ${i}`).toBe(1);
      expect(sample(samples, "hubcast_cluster_workers"), `scrape ${i}`).toBe(2);
      expect(sample(samples, "hubcast_cluster_workers_reporting"), `scrape ${i}`).toBe(2);
    }
  });

  it("keeps answering while a worker is killed and restarted, with the workers it has", async () => {
    const cluster = await start();
    await cluster.spreadClients(6);
    const survivorConnections = (await cluster.nodes()).find((n) => n.id === nodeOf(cluster, 2))?.connections ?? 0;
    expect(survivorConnections).toBeGreaterThan(0);
    expect(sample(await scrapeFresh(cluster.url), 'hubcast_connections_total{transport="websocket"}')).toBe(6);

    const pid = cluster.workerPids().get(1) ?? 0;
    const seen = new Set(cluster.primaryLogs("worker ready").map((l) => l["workerPid"]));
    process.kill(pid, "SIGKILL");
    // Between the exit and the restarted worker's start the slot is down: scrapes hold worker 2 alone.
    await cluster.primaryLog("worker exited unexpectedly; restarting it", (l) => l["workerPid"] === pid);
    const down = await scrapeFresh(cluster.url);
    expect(sample(down, "hubcast_cluster_workers_reporting")).toBe(1);
    expect(sample(down, "hubcast_connections")).toBe(survivorConnections);

    await cluster.primaryLog("worker ready", (l) => l["worker"] === 1 && !seen.has(l["workerPid"]));
    let samples = new Map<string, number>();
    await eventually(
      async () => {
        samples = await scrapeFresh(cluster.url);
        return sample(samples, "hubcast_cluster_workers_reporting") === 2;
      },
      10_000,
      "both workers reporting again",
    );
    // The restarted worker counts from zero: the cluster's counter holds worker 2's connections only.
    expect(sample(samples, "hubcast_connections")).toBe(survivorConnections);
    expect(sample(samples, 'hubcast_connections_total{transport="websocket"}')).toBe(survivorConnections);
    await cluster.spreadClients(4);
    for (let i = 0; i < 4; i++) {
      const after = await scrapeFresh(cluster.url);
      expect(sample(after, "hubcast_connections"), `scrape ${i}`).toBe(survivorConnections + 4);
      expect(sample(after, "hubcast_cluster_workers_reporting"), `scrape ${i}`).toBe(2);
    }
  });

  it("leaves out a worker that does not answer in time, and says so", { timeout: 30_000 }, async () => {
    const cluster = await start();
    await cluster.spreadClients(4);
    const stopped = cluster.workerPids().get(2) ?? 0;
    process.kill(stopped, "SIGSTOP");
    try {
      // A scrape handed to the stopped worker waits for it; those worker 1 takes answer
      // after the primary's 2 s wait, without worker 2.
      const scrapes = Array.from({ length: 3 }, () => scrapeFresh(cluster.url));
      const first = await Promise.race(scrapes);
      expect(sample(first, "hubcast_cluster_workers_reporting")).toBe(1);
      expect(sample(first, "hubcast_cluster_workers")).toBe(2);
      const warning = await cluster.primaryLog("workers left out of the metrics scrape: no answer in time");
      expect(warning).toMatchObject({ workers: [2], timeoutMs: 2_000, level: 40 });
      process.kill(stopped, "SIGCONT");
      // Every scrape is answered once the worker runs again.
      for (const samples of await Promise.all(scrapes)) expect(sample(samples, "hubcast_cluster_workers")).toBe(2);
      expect(sample(await scrapeFresh(cluster.url), "hubcast_cluster_workers_reporting")).toBe(2);
    } finally {
      process.kill(stopped, "SIGCONT");
    }
  });
});
