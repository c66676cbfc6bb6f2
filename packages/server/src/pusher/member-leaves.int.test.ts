import { setTimeout as sleep } from "node:timers/promises";
import type { PresenceChannel } from "pusher-js";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "../../../../test/support/nodes.js";
import type { PusherJs } from "../../../../test/support/pusher.js";
import {
  TEST_APP,
  WebhookReceiver,
  connected,
  next,
  pusherClient,
  serverSdk,
  subscribed,
} from "../../../../test/support/pusher.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { MemoryEngine } from "../engine/memory.js";
import { createNode } from "../node.js";
import type { HubcastNode } from "../node.js";
import { MemberLeaves } from "./member-leaves.js";

const cluster = new TestCluster();
const clients: PusherJs[] = [];
const receivers: WebhookReceiver[] = [];
const redises: RedisServer[] = [];
const redisNodes: HubcastNode[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await cluster.cleanup();
  await Promise.all(redisNodes.splice(0).map((node) => node.close()));
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
  await Promise.all(redises.splice(0).map((redis) => redis.stop()));
});

/** A pusher-js client of `user` on the node at `port`, connected. */
async function clientOn(port: number, user: string): Promise<PusherJs> {
  const client = pusherClient(port, serverSdk(port), { id: user });
  clients.push(client);
  await connected(client);
  return client;
}

describe("a presence member who leaves and comes back on the same node", () => {
  it("sends no second member_added webhook and stays in the others' member lists, however slow the leave's push", async () => {
    // The leave's push is slow (a busy broker), so the user's new subscription reads the members
    // while the leave is still being decided: the case where the two used to cross.
    const engine = new MemoryEngine();
    const publishLeave = engine.broker.publishLeave.bind(engine.broker);
    engine.broker.publishLeave = async (channel, info) => {
      await sleep(300);
      await publishLeave(channel, info);
    };
    const receiver = new WebhookReceiver();
    receivers.push(receiver);
    const app = { ...TEST_APP, webhooks: [{ url: await receiver.listen() }] };
    // presenceTtlMs 2 s: member_removed waits 1 s instead of 3.
    const { node } = await cluster.node({ pusherApps: [app], presenceTtlMs: 2_000 }, { engine });
    const port = node.address.port;
    const clientOf = async (user: string): Promise<PusherJs> => {
      const client = pusherClient(port, serverSdk(port), { id: user });
      clients.push(client);
      await connected(client);
      return client;
    };
    const ann = await clientOf("ann");
    const bob = await clientOf("bob");
    const { channel: annRoom } = await subscribed(ann, "presence-room");
    await subscribed(bob, "presence-room");
    await expect
      .poll(() => receiver.of("presence-room").sort(), { timeout: 5_000 })
      .toEqual(["channel_occupied", "member_added:ann", "member_added:bob"]);

    bob.unsubscribe("presence-room");
    await subscribed(bob, "presence-room");
    // Past the slow push and the removal delay: anything the reload sent has arrived.
    await sleep(1_800);
    expect(receiver.of("presence-room").sort()).toEqual(["channel_occupied", "member_added:ann", "member_added:bob"]);
    expect((annRoom as PresenceChannel).members.get("bob")).not.toBeNull();
    expect((annRoom as PresenceChannel).members.count).toBe(2);

    // A real leave is still reported, after the delay.
    const removed = next(annRoom, "pusher:member_removed");
    bob.unsubscribe("presence-room");
    expect(await removed).toMatchObject({ id: "bob" });
    await expect.poll(() => receiver.of("presence-room"), { timeout: 5_000 }).toContain("member_removed:bob");
    expect(receiver.of("presence-room").filter((event) => event === "member_added:bob")).toHaveLength(1);
    expect(receiver.invalid).toBe(0);
  });
});

describe("a presence member who reloads onto another node", () => {
  it("sends no second member_added webhook and no member_removed to the others, however slow the old node's leave", async () => {
    const redis = await RedisServer.start();
    redises.push(redis);
    const receiver = new WebhookReceiver();
    receivers.push(receiver);
    const app = { ...TEST_APP, webhooks: [{ url: await receiver.listen() }] };
    const options = { port: 0, logLevel: "silent", demo: false, pusherApps: [app], presenceTtlMs: 2_000 };
    const [a, b] = (await Promise.all(
      [1, 2].map(async () => {
        const node = await createNode({ ...options, engine: "redis", redisUrl: redis.url });
        redisNodes.push(node);
        await node.start();
        return node;
      }),
    )) as [HubcastNode, HubcastNode];
    // Node a's leave push is slow, so bob's new subscription on b reads the members after a
    // removed bob's entry and before a reported the removal: where the two used to cross.
    const publishLeave = a.engine.broker.publishLeave.bind(a.engine.broker);
    a.engine.broker.publishLeave = async (channel, info) => {
      await sleep(500);
      await publishLeave(channel, info);
    };
    const ann = await clientOn(b.address.port, "ann");
    const { channel: annRoom } = await subscribed(ann, "presence-room");
    const bobOnA = await clientOn(a.address.port, "bob");
    await subscribed(bobOnA, "presence-room");
    await expect
      .poll(() => receiver.of("presence-room").sort(), { timeout: 5_000 })
      .toEqual(["channel_occupied", "member_added:ann", "member_added:bob"]);

    const removed: string[] = [];
    annRoom.bind("pusher:member_removed", (member: { id: string }) => removed.push(member.id));

    // The reload: the page's old connection to a goes, its new one to b subscribes once a has
    // taken bob out of presence (and is still pushing the leave).
    const bobOnB = await clientOn(b.address.port, "bob");
    bobOnA.disconnect();
    const room = `pusher.${TEST_APP.id}:presence-room`;
    await expect
      .poll(async () => Object.values(await b.engine.presence.get(room)).map((entry) => entry.user))
      .toEqual(["ann"]);
    await subscribed(bobOnB, "presence-room");
    // Past the slow push and the removal delay (1 s): anything the reload sent has arrived.
    await sleep(2_000);
    expect(receiver.of("presence-room").sort()).toEqual(["channel_occupied", "member_added:ann", "member_added:bob"]);
    // The old node's late leave reached b after bob's new join there: b found bob in presence
    // and did not tell ann he left.
    expect(removed).toEqual([]);
    expect((annRoom as PresenceChannel).members.get("bob")).not.toBeNull();

    // Bob really leaving is still reported, once, to ann and by webhook.
    const gone = next(annRoom, "pusher:member_removed");
    bobOnB.unsubscribe("presence-room");
    expect(await gone).toMatchObject({ id: "bob" });
    await expect.poll(() => receiver.of("presence-room"), { timeout: 5_000 }).toContain("member_removed:bob");
    expect(receiver.of("presence-room").filter((event) => event.endsWith(":bob"))).toEqual([
      "member_added:bob",
      "member_removed:bob",
    ]);
  });
});

describe("MemberLeaves", () => {
  it("resolves a user's wait once all of that user's leaves are decided, and forgets them", async () => {
    const leaves = new MemberLeaves();
    let first!: () => void;
    let second!: () => void;
    leaves.track("room", "bob", new Promise<void>((resolve) => (first = resolve)));
    leaves.track("room", "bob", new Promise<void>((resolve) => (second = resolve)));
    let waited = false;
    const wait = leaves.settled("room", "bob").then(() => {
      waited = true;
    });
    await leaves.settled("room", "ann"); // another user does not wait
    await leaves.settled("hall", "bob"); // nor the same user in another channel
    first();
    await sleep(10);
    expect(waited).toBe(false);
    second();
    await wait;
    expect(waited).toBe(true);
    await sleep(0);
    expect(leaves.size).toBe(0);
  });
});
