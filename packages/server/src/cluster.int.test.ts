import type { StreamPosition, SubscribeResult } from "@hubcast/protocol";
import { randomUUID } from "node:crypto";
import { RedisKeys } from "@hubcast/emitter";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RawClient } from "../../../test/support/raw-client.js";
import { RedisCluster } from "../../../test/support/redis-cluster.js";
import { createNode } from "./node.js";
import type { HubcastNode } from "./node.js";
import type { NodeOptions } from "./options.js";

type Position = StreamPosition;
interface PublicationPush {
  channel: string;
  data: unknown;
  offset?: number;
}
interface JoinLeave {
  channel: string;
  info: { client: string; user: string };
}

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await RedisCluster.start(3);
}, 40_000);
afterAll(() => cluster.stop());

const nodes: HubcastNode[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

/** `count` nodes on the cluster under one fresh key prefix; returns their prefix and WebSocket URLs. */
async function startNodes(count: number, options: NodeOptions = {}): Promise<{ prefix: string; wsUrls: string[] }> {
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const wsUrls: string[] = [];
  for (let i = 0; i < count; i++) {
    const node = await createNode({
      engine: "redis",
      redisCluster: cluster.urls.join(","),
      redisPrefix: prefix,
      port: 0,
      logLevel: "silent",
      demo: false,
      namespaces: { chat: { historySize: 100, allowPublish: true, presence: true, joinLeave: true } },
      ...options,
    });
    nodes.push(node);
    const { url } = await node.start();
    expect(node.engine.name).toBe("redis-cluster");
    wsUrls.push(`${url.replace(/^http/, "ws")}${node.options.path}`);
  }
  return { prefix, wsUrls };
}

/** A connected client, closed after the test; resolves with its client id too. */
async function client(wsUrl: string): Promise<{ c: RawClient; id: string }> {
  const c = await RawClient.open(wsUrl);
  clients.push(c);
  const { client: id } = await c.ok<{ client: string }>("connect", {});
  return { c, id };
}

async function publishRange(c: RawClient, channel: string, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) await c.ok("publish", { channel, data: i });
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("nodes on a Redis Cluster act as one", () => {
  it("delivers publications made on every node to subscribers on every node, once and in order, across all shards", async () => {
    const { prefix, wsUrls } = await startNodes(3);
    const channels = range(0, 29).map((i) => `chat:c${i}`);
    const subscribers = await Promise.all(wsUrls.map(async (url) => (await client(url)).c));
    for (const s of subscribers) await Promise.all(channels.map((channel) => s.ok("subscribe", { channel })));
    const publishers = await Promise.all(wsUrls.map(async (url) => (await client(url)).c));

    // Per channel, one publication through each node in turn, then a marker: 4 per channel.
    await Promise.all(
      channels.map(async (channel) => {
        for (const [n, p] of publishers.entries()) await p.ok("publish", { channel, data: `${channel}/n${n}` });
        await publishers[0]?.ok("publish", { channel, data: `${channel}/end` });
      }),
    );
    for (const s of subscribers) {
      await s.waitForPushes("publication", channels.length * 4, undefined, 10_000);
      for (const channel of channels) {
        const pubs = s.pushes<PublicationPush>("publication", channel);
        // Exactly once: the marker is the 4th and last of the channel.
        expect(pubs.map((p) => p.data)).toEqual([`${channel}/n0`, `${channel}/n1`, `${channel}/n2`, `${channel}/end`]);
        expect(pubs.map((p) => p.offset)).toEqual([1, 2, 3, 4]);
      }
    }

    // The channels' keys really spread over the shards: each master holds its own streams.
    const streamsPerMaster = await Promise.all(
      cluster.ports.map(async (port) =>
        (await cluster.cli(port, "--scan", "--pattern", `${prefix}:*:stream`)).split("\n").filter((k) => k !== ""),
      ),
    );
    expect(streamsPerMaster.filter((keys) => keys.length > 0).length).toBeGreaterThan(1);
    expect(streamsPerMaster.flat().sort()).toEqual(channels.map((channel) => `${prefix}:{${channel}}:stream`).sort());
  }, 30_000);

  it("recovers on node B what a client missed after leaving node A, published through node C", async () => {
    const { wsUrls } = await startNodes(3);
    const [a, b, c] = wsUrls as [string, string, string];
    const { c: publisher } = await client(c);
    const { c: first } = await client(a);
    const sub = await first.ok<SubscribeResult>("subscribe", { channel: "chat:rec" });
    await publishRange(publisher, "chat:rec", 1, 5);
    const seen = await first.waitForPushes<PublicationPush>("publication", 5, "chat:rec");
    const last: Position = { offset: seen.at(-1)?.offset ?? 0, epoch: sub.position?.epoch ?? "" };
    expect(last.offset).toBe(5);
    await first.close();

    await publishRange(publisher, "chat:rec", 6, 105);
    const { c: second } = await client(b);
    const result = await second.ok<SubscribeResult>("subscribe", { channel: "chat:rec", since: last });
    expect(result.recovered).toBe(true);
    expect(result.publications?.map((p) => p.offset)).toEqual(range(6, 105));
    expect(result.publications?.map((p) => p.data)).toEqual(range(6, 105));
    expect(result.position).toEqual({ offset: 105, epoch: last.epoch });
    // Nothing recovered comes again as a push.
    await publisher.ok("publish", { channel: "chat:rec", data: "after" });
    const live = await second.waitForPushes<PublicationPush>("publication", 1, "chat:rec");
    expect(live).toEqual([expect.objectContaining({ data: "after", offset: 106 })]);
  }, 30_000);

  it("says recovered: false on another node when history was trimmed beyond the client's position", async () => {
    const { wsUrls } = await startNodes(3);
    const [a, b, c] = wsUrls as [string, string, string];
    const { c: first } = await client(a);
    const { position } = await first.ok<SubscribeResult>("subscribe", { channel: "chat:trim" });
    expect(position?.offset).toBe(0);
    await first.close();
    const { c: publisher } = await client(c);
    await publishRange(publisher, "chat:trim", 1, 101); // keeps 2..101: offset 1 is lost
    const { c: second } = await client(b);
    const result = await second.ok<SubscribeResult>("subscribe", { channel: "chat:trim", since: position });
    expect(result).toMatchObject({
      recovered: false,
      publications: [],
      position: { offset: 101, epoch: position?.epoch },
    });
  }, 30_000);

  it("shares presence and pushes join/leave across nodes", async () => {
    const { wsUrls } = await startNodes(3);
    const [a, b, c] = wsUrls as [string, string, string];
    const { c: watcher, id: watcherId } = await client(a);
    await watcher.ok("subscribe", { channel: "chat:p" });
    await watcher.waitForMembers("join", 1, "chat:p"); // its own join
    const { c: guest, id: guestId } = await client(b);
    await guest.ok("subscribe", { channel: "chat:p" });
    const joins = await watcher.waitForMembers("join", 2, "chat:p");
    expect(joins[1]).toEqual({ channel: "chat:p", info: { client: guestId, user: "" } });

    const { c: third, id: thirdId } = await client(c);
    await third.ok("subscribe", { channel: "chat:p" });
    const { clients: present } = await third.ok<{ clients: Record<string, JoinLeave["info"]> }>("presence", {
      channel: "chat:p",
    });
    expect(Object.keys(present).sort()).toEqual([watcherId, guestId, thirdId].sort());
    expect(await guest.ok("presence_stats", { channel: "chat:p" })).toEqual({ numClients: 3, numUsers: 1 });

    await guest.ok("unsubscribe", { channel: "chat:p" });
    const [leave] = await watcher.waitForMembers("leave", 1, "chat:p");
    expect(leave).toEqual({ channel: "chat:p", info: { client: guestId, user: "" } });
    await third.close();
    const leaves = await watcher.waitForMembers("leave", 2, "chat:p");
    expect(leaves[1]?.info.client).toBe(thirdId);
    expect(await watcher.ok("presence_stats", { channel: "chat:p" })).toEqual({ numClients: 1, numUsers: 1 });
    const { clients: left } = await watcher.ok<{ clients: Record<string, JoinLeave["info"]> }>("presence", {
      channel: "chat:p",
    });
    expect(Object.keys(left)).toEqual([watcherId]);
  }, 30_000);

  // Channel names may hold `{` and `}` (printable ASCII): the hash tag must still pin every key
  // of a channel to one slot, or the publish script fails with CROSSSLOT.
  const awkward = ["chat:a{b}c", "chat:a}b", "chat:{x}", "{x}", "x}", "}x", "}"];

  it.each(awkward)("keeps every key of channel %s in one slot", async (channel) => {
    const keys = new RedisKeys("t-slots");
    const port = cluster.ports[0] ?? 0;
    const names = [
      keys.stream(channel),
      keys.meta(channel),
      keys.presence(channel),
      keys.presenceExpiry(channel),
      keys.pubsub(channel),
    ];
    const slots = await Promise.all(names.map((name) => cluster.cli(port, "cluster", "keyslot", name)));
    expect(new Set(slots).size, `slots of ${names.join(", ")}: ${slots.join(", ")}`).toBe(1);
  });

  it.each(["{x}", "x}", "}x"])(
    "publishes with history, recovers and keeps presence on channel %s",
    async (channel) => {
      const { wsUrls } = await startNodes(2, { channel: { historySize: 10, allowPublish: true, presence: true } });
      const [a, b] = wsUrls as [string, string];
      const { c: sub, id: subId } = await client(a);
      const { position } = await sub.ok<SubscribeResult>("subscribe", { channel });
      const { c: publisher, id: publisherId } = await client(b);
      await publishRange(publisher, channel, 1, 3);
      expect((await sub.waitForPushes<PublicationPush>("publication", 3, channel)).map((p) => p.offset)).toEqual([
        1, 2, 3,
      ]);
      const recovered = await publisher.ok<SubscribeResult>("subscribe", { channel, since: position });
      expect(recovered).toMatchObject({ recovered: true, position: { offset: 3, epoch: position?.epoch } });
      expect(recovered.publications?.map((p) => p.data)).toEqual([1, 2, 3]);
      const { clients: present } = await sub.ok<{ clients: Record<string, JoinLeave["info"]> }>("presence", {
        channel,
      });
      expect(Object.keys(present).sort()).toEqual([subId, publisherId].sort());
    },
    20_000,
  );
});
