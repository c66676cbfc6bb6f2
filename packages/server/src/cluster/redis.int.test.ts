import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../../../test/support/processes.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { WorkerCluster } from "../../../../test/support/workers.js";

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());

const clusters: WorkerCluster[] = [];
afterEach(async () => {
  const codes = await Promise.all(clusters.splice(0).map((c) => c.stop()));
  expect(codes.every((code) => code === 0)).toBe(true);
});

describe("cluster mode with the redis engine", () => {
  it("workers share publications through Redis and each is a node in the cluster view", async () => {
    const prefix = `t-${randomUUID().slice(0, 8)}`;
    const cluster = await WorkerCluster.start([
      "--engine",
      "redis",
      "--redis-url",
      redis.url,
      "--redis-prefix",
      prefix,
    ]);
    clusters.push(cluster);
    expect(cluster.primaryLogs("hubcast listening")[0]).toMatchObject({ engine: "redis", workers: 2 });
    expect(cluster.logs.filter((l) => l["msg"] === "worker listening").map((l) => l["engine"])).toEqual([
      "redis",
      "redis",
    ]);
    const clients = await cluster.spreadClients(4);
    for (const c of clients) await c.ok("subscribe", { channel: "chat:r" });
    await cluster.viewUntil((nodes) => nodes.every((n) => n.subscriptions >= 1), "subscribers on both workers");
    for (let i = 0; i < clients.length; i++) await clients[i]?.ok("publish", { channel: "chat:r", data: i });
    for (const c of clients) {
      const pubs = await c.waitForPushes<{ data: number; offset: number }>("publication", 4, "chat:r");
      expect(pubs.map((p) => p.data)).toEqual([0, 1, 2, 3]);
      expect(pubs.map((p) => p.offset)).toEqual([1, 2, 3, 4]);
    }
    const listed = await runCli(["nodes", "--redis-url", redis.url, "--redis-prefix", prefix, "--json"]);
    expect(listed.code).toBe(0);
    const { nodes } = JSON.parse(listed.stdout) as { nodes: { address: string }[] };
    expect(nodes.map((n) => n.address)).toEqual([cluster.url, cluster.url]);
  });
});
