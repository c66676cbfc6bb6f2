import type { ClientInfo, StreamPosition, SubscribeResult } from "@hubcast/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { RawClient } from "../../../../test/support/raw-client.js";
import { WorkerCluster } from "../../../../test/support/workers.js";

interface PublicationPush {
  channel: string;
  data: { from: number; n: number } | number;
  offset?: number;
}

const clusters: WorkerCluster[] = [];
afterEach(async () => {
  const codes = await Promise.all(clusters.splice(0).map((c) => c.stop()));
  expect(codes.every((code) => code === 0)).toBe(true);
});

async function start(args: string[] = []): Promise<WorkerCluster> {
  const cluster = await WorkerCluster.start(args);
  clusters.push(cluster);
  return cluster;
}

describe("cluster mode with the memory engine (relay in the primary)", () => {
  it("prints 'hubcast listening' once, on the shared port, and every worker lists every worker in /api/nodes", async () => {
    const cluster = await start();
    expect(cluster.primaryLogs("hubcast listening")).toHaveLength(1);
    expect(cluster.logs.filter((l) => l["msg"] === "hubcast listening")).toHaveLength(1);
    expect(
      cluster.logs
        .filter((l) => l["msg"] === "worker listening")
        .map((l) => l["worker"])
        .sort(),
    ).toEqual([1, 2]);
    const nodes = await cluster.viewUntil((n) => n.length === 2, "both workers in the view");
    expect(nodes.map((n) => n.address)).toEqual([cluster.url, cluster.url]);
    // Ask several times: round-robin sends each request to the next worker; all give the same view.
    for (let i = 0; i < 4; i++) expect((await cluster.nodes()).map((n) => n.id)).toEqual(nodes.map((n) => n.id));
  });

  it("delivers every client's publications to every client once and in one order, across workers", async () => {
    const cluster = await start();
    const clients = await cluster.spreadClients(6);
    for (const c of clients) await c.ok("subscribe", { channel: "chat:all" });
    await cluster.viewUntil((nodes) => nodes.every((n) => n.subscriptions >= 1), "subscriptions on both workers");
    await Promise.all(
      clients.map(async (c, from) => {
        for (let n = 1; n <= 10; n++) await c.ok("publish", { channel: "chat:all", data: { from, n } });
      }),
    );
    const orders: string[][] = [];
    for (const c of clients) {
      const pubs = await c.waitForPushes<PublicationPush>("publication", 60, "chat:all", 10_000);
      expect(pubs).toHaveLength(60);
      expect(pubs.map((p) => p.offset)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      for (let from = 0; from < clients.length; from++) {
        const mine = pubs
          .map((p) => p.data)
          .filter((d): d is { from: number; n: number } => typeof d === "object" && d.from === from);
        expect(mine.map((d) => d.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      }
      orders.push(pubs.map((p) => JSON.stringify(p.data)));
    }
    for (const order of orders) expect(order).toEqual(orders[0]);
    await Promise.all(clients.map((c) => c.ok("unsubscribe", { channel: "chat:all" })));
  });

  it("recovers 50 missed publications on a resubscribe with `since`, whichever worker serves it", async () => {
    const cluster = await start();
    const first = await cluster.client();
    const sub = await first.ok<SubscribeResult>("subscribe", { channel: "chat:rec" });
    const since: StreamPosition = sub.position ?? { offset: -1, epoch: "" };
    expect(since.offset).toBe(0);
    await first.close();
    const publisher = await cluster.client();
    for (let i = 1; i <= 50; i++) await publisher.ok("publish", { channel: "chat:rec", data: i });

    // Four resubscribes one after the other: round-robin puts them on both workers, which the view confirms.
    const again: RawClient[] = [];
    for (let i = 0; i < 4; i++) {
      const client = await cluster.client();
      const result = await client.ok<SubscribeResult>("subscribe", { channel: "chat:rec", since });
      expect(result.recovered).toBe(true);
      expect(result.publications?.map((p) => p.data)).toEqual(Array.from({ length: 50 }, (_, k) => k + 1));
      expect(result.position).toEqual({ offset: 50, epoch: since.epoch });
      again.push(client);
    }
    await cluster.viewUntil(
      (nodes) => nodes.length === 2 && nodes.every((n) => n.subscriptions >= 1),
      "resubscribed clients on both workers",
    );
  });

  it("shares presence and join/leave across workers, and drops the presence of a client that left", async () => {
    const cluster = await start();
    const clients = await cluster.spreadClients(4);
    const ids: string[] = [];
    for (const c of clients) await c.ok("subscribe", { channel: "chat:room" });
    await cluster.viewUntil((nodes) => nodes.every((n) => n.subscriptions >= 1), "members on both workers");
    for (const c of clients) {
      const { clients: present } = await c.ok<{ clients: Record<string, ClientInfo> }>("presence", {
        channel: "chat:room",
      });
      expect(Object.keys(present)).toHaveLength(4);
      if (ids.length === 0) ids.push(...Object.keys(present).sort());
      else expect(Object.keys(present).sort()).toEqual(ids);
    }
    // The first client saw every join (its own too), wherever the joining client was served.
    const joins = await (clients[0] as RawClient).waitForMembers("join", 4, "chat:room");
    expect(joins.map((j) => j.info.client).sort()).toEqual(ids);
    const leaving = clients[3] as RawClient;
    const connected = leaving.frames.find((f) => f["connect"] !== undefined);
    const leftId = (connected?.["connect"] as { client: string } | undefined)?.client;
    expect(leftId).toBeDefined();
    await leaving.close();
    const leaves = await (clients[0] as RawClient).waitForMembers("leave", 1, "chat:room");
    expect(leaves[0]?.info.client).toBe(leftId);
    // The relay removes presence before it fans the leave out, so the count is already down.
    const stats = await (clients[1] as RawClient).ok<{ numClients: number }>("presence_stats", {
      channel: "chat:room",
    });
    expect(stats.numClients).toBe(3);
  });
});
