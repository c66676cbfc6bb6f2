import { connectRedis } from "@hubcast/emitter";
import type { RedisClusterClient } from "@hubcast/emitter";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../../../../test/support/eventually.js";
import { RedisCluster } from "../../../../test/support/redis-cluster.js";
import { clusterPubSubLinks, detachPubSubLink } from "./cluster-links.js";

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await RedisCluster.start(3);
}, 40_000);
afterAll(() => cluster.stop());

/**
 * A canary for the node-redis internals `cluster-links.ts` relies on: where the cluster client
 * keeps its pub/sub connections, and that forgetting one makes the next subscribe open a new one.
 * If a node-redis upgrade changes that shape, this fails, and link liveness on a cluster with it.
 */
describe("cluster pub/sub links (node-redis internals)", () => {
  it("lists each shard's pub/sub connection and the plain one, and a detached one is replaced on the next subscribe", async () => {
    const connection = await connectRedis({ clusterUrls: cluster.urls }, () => undefined);
    const client = connection.client as RedisClusterClient;
    try {
      const sharded = `t-${randomUUID()}:{links}`;
      const plain = `t-${randomUUID()}:plain`;
      const got: string[] = [];
      const listener = (message: Buffer): void => {
        got.push(message.toString());
      };
      await client.sSubscribe(sharded, listener, true);
      await client.subscribe(plain, listener, true);
      expect(client.pubSubNode).toBe(client._slots.pubSubNode);

      const links = clusterPubSubLinks(client);
      expect(links.map((l) => l.kind).sort()).toEqual(["plain", "shard"]);
      const shard = links.find((l) => l.kind === "shard");
      const plainLink = links.find((l) => l.kind === "plain");
      if (shard === undefined || plainLink === undefined) throw new Error("unreachable");
      expect([...shard.client.getPubSubListeners("SHARDED").keys()]).toEqual([sharded]);
      expect(links.every((l) => !l.connecting && l.client.isReady)).toBe(true);

      for (const link of [shard, plainLink]) {
        expect(detachPubSubLink(client, link)).toBe(true);
        link.client.destroy();
        expect(detachPubSubLink(client, link)).toBe(false); // already forgotten
      }
      expect(clusterPubSubLinks(client)).toEqual([]);

      await client.sSubscribe(sharded, listener, true);
      await client.subscribe(plain, listener, true);
      const fresh = clusterPubSubLinks(client);
      expect(fresh).toHaveLength(2);
      expect(fresh.some((l) => l.client === shard.client || l.client === plainLink.client)).toBe(false);
      await client.sPublish(sharded, "sharded again");
      await client.publish(plain, "plain again");
      await eventually(
        () => got.includes("sharded again") && got.includes("plain again"),
        5_000,
        "delivery on the new connections",
      );
    } finally {
      await connection.close();
    }
  });
});
