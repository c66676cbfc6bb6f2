import { connectRedis, RedisKeys } from "@hubcast/emitter";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ServerProcess } from "../../../test/support/processes.js";
import { RawClient } from "../../../test/support/raw-client.js";
import { RedisServer } from "../../../test/support/redis.js";
import { startRedisNodes } from "../../../test/support/redis-nodes.js";
import { eventually } from "../../../test/support/eventually.js";
import { expectFanOutOnceInOrder, expectRecoveryOnAnotherNode } from "../../../test/support/multinode-scenarios.js";
import { RedisRegistry } from "./registry/redis.js";

interface Position {
  offset: number;
  epoch: string;
}

let redis: RedisServer;
const servers: ServerProcess[] = [];
const clients: RawClient[] = [];
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
});

async function nodes(count: number, extraArgs: string[] = []): Promise<ServerProcess[]> {
  const started = await startRedisNodes(redis.url, count, extraArgs);
  servers.push(...started.nodes);
  return started.nodes;
}

async function client(node: ServerProcess): Promise<RawClient> {
  const c = await RawClient.connected(node.wsUrl);
  clients.push(c);
  return c;
}

describe("nodes on one Redis act as one", () => {
  it("delivers publications made on any node to subscribers on every node, once and in order", async () => {
    await expectFanOutOnceInOrder(await nodes(3), client);
  });

  it("recovers on node B what a client missed after leaving node A, published through node C", async () => {
    await expectRecoveryOnAnotherNode(await nodes(3), client);
  });

  it("says recovered: false when history was trimmed, and when Redis was flushed", async () => {
    const [a, b] = await nodes(2);
    const c1 = await client(a as ServerProcess);
    const { position } = await c1.ok<{ position: Position }>("subscribe", { channel: "small:t" });
    await c1.ok("unsubscribe", { channel: "small:t" });
    for (let i = 1; i <= 15; i++) await c1.ok("publish", { channel: "small:t", data: i });
    const c2 = await client(b as ServerProcess);
    expect(await c2.ok("subscribe", { channel: "small:t", since: position })).toMatchObject({
      recovered: false,
      publications: [],
    });

    const { position: before } = await c2.ok<{ position: Position }>("subscribe", { channel: "chat:f" });
    await c2.ok("publish", { channel: "chat:f", data: 1 });
    await c2.waitForPushes("publication", 1, "chat:f");
    await redis.cli("FLUSHALL");
    // A live subscriber learns at the next publication that history restarted, and is asked to resubscribe.
    await c1.ok("publish", { channel: "chat:f", data: "after flush" });
    const [push] = await c2.waitForPushes<{ code: number; resubscribe: boolean }>("unsubscribe", 1, "chat:f");
    expect(push).toMatchObject({ code: 2000, resubscribe: true });
    const again = await c2.ok<{ recovered: boolean; position: Position }>("subscribe", {
      channel: "chat:f",
      since: { offset: 1, epoch: before.epoch },
    });
    expect(again.recovered).toBe(false);
    expect(again.position.epoch).not.toBe(before.epoch);
  });

  it("drops a SIGKILLed node's presence entries and its place in the cluster view within the TTLs", async () => {
    const ttlArgs = ["--presence-ttl-ms", "1500", "--node-ttl-ms", "1500"];
    const [survivor, victim] = await nodes(2, ttlArgs);
    const watcher = await client(survivor as ServerProcess);
    await watcher.ok("subscribe", { channel: "chat:p" });
    const doomed = await client(victim as ServerProcess);
    await doomed.ok("subscribe", { channel: "chat:p" });
    expect(await watcher.ok("presence_stats", { channel: "chat:p" })).toMatchObject({ numClients: 2 });

    const keys = new RedisKeys(victim ? prefixOf(victim) : "");
    const redisConnection = await connectRedis({ url: redis.url }, () => undefined);
    try {
      const registry = new RedisRegistry(redisConnection, keys, 1500);
      expect(await registry.list()).toHaveLength(2);
      // Presence must stay while the node lives: refreshes keep it past one TTL.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(await watcher.ok("presence_stats", { channel: "chat:p" })).toMatchObject({ numClients: 2 });
      const killedAt = Date.now();
      await victim?.stop("SIGKILL");
      await eventually(
        async () =>
          (await watcher.ok<{ numClients: number }>("presence_stats", { channel: "chat:p" })).numClients === 1,
        5_000,
        "the victim's presence to expire",
      );
      await eventually(async () => (await registry.list()).length === 1, 5_000, "the victim to leave the cluster view");
      expect(Date.now() - killedAt).toBeLessThan(1500 + 1500);
    } finally {
      await redisConnection.close();
    }
  });
});

/** The Redis key prefix a node process was started with. */
function prefixOf(node: ServerProcess): string {
  const args = node.child.spawnargs;
  return args[args.indexOf("--redis-prefix") + 1] ?? "";
}
