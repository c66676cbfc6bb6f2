import { ErrorCode } from "@hubcast/protocol";
import type { PublicationPush } from "@hubcast/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "../../../../test/support/nodes.js";
import type { PusherJs } from "../../../../test/support/pusher.js";
import { TEST_APP, connected, next, pusherClient, serverSdk, subscribed } from "../../../../test/support/pusher.js";
import { TEST_SECRET, sign } from "../../../../test/support/tokens.js";

/**
 * A Pusher app mapped to the Hubcast namespace `chat`: Pusher clients and native clients
 * share its channels, in both directions, under each side's own access rules.
 */
const cluster = new TestCluster();
const pushers: PusherJs[] = [];
afterEach(async () => {
  for (const client of pushers.splice(0)) client.disconnect();
  await cluster.cleanup();
});

async function start(chat: Record<string, unknown> = {}) {
  const { node, wsUrl } = await cluster.node({
    namespaces: { chat: { historySize: 50, allowPublish: true, ...chat } },
    pusherApps: [{ ...TEST_APP, namespace: "chat" }],
    tokenHmacSecret: TEST_SECRET,
  });
  const port = node.address.port;
  const sdk = serverSdk(port);
  const pusher = pusherClient(port, sdk, { id: "pat" });
  pushers.push(pusher);
  await connected(pusher);
  return { sdk, pusher, native: await cluster.client(wsUrl), wsUrl };
}

describe("a Pusher app sharing a namespace with native clients", () => {
  it("carries events both ways on public channels: Pusher events as envelopes, native publications as `message`", async () => {
    const { sdk, pusher, native } = await start();
    await native.ok("subscribe", { channel: "chat:room" });
    const { channel: room } = await subscribed(pusher, "room");

    const pusherGot = next(room, "msg");
    await sdk.trigger("room", "msg", { text: "from the pusher SDK" });
    expect(await pusherGot).toEqual({ text: "from the pusher SDK" });
    const [envelope] = await native.waitForPushes<PublicationPush>("publication", 1, "chat:room");
    expect(envelope?.data).toEqual({ event: "msg", data: { text: "from the pusher SDK" } });

    const plain = next(room, "message");
    await native.ok("publish", { channel: "chat:room", data: { text: "from a native client" } });
    expect(await plain).toEqual({ text: "from a native client" });
    const named = next(room, "typing");
    await native.ok("publish", { channel: "chat:room", data: { event: "typing", data: { who: "nat" } } });
    expect(await named).toEqual({ who: "nat" });
  });

  it("tells Pusher clients of a public channel the native clients' joins and leaves as hubcast:members, with joinLeave on", async () => {
    const { pusher, native } = await start({ presence: true, joinLeave: true });
    const { channel: lobby } = await subscribed(pusher, "lobby");
    const joined = next(lobby, "hubcast:members");
    await native.ok("subscribe", { channel: "chat:lobby" });
    expect(await joined).toEqual({ leaves: [], joins: [{ user_id: "" }] });
    const left = next(lobby, "hubcast:members");
    await native.ok("unsubscribe", { channel: "chat:lobby" });
    expect(await left).toEqual({ leaves: [{ user_id: "" }], joins: [] });
  });

  it("lets a native client recover Pusher events it missed, from the namespace's history", async () => {
    const { sdk, native, wsUrl } = await start();
    const { position } = await native.ok<{ position: { offset: number; epoch: string } }>("subscribe", {
      channel: "chat:feed",
    });
    await native.close();
    for (const n of [1, 2, 3]) await sdk.trigger("feed", "item", { n });
    const back = await cluster.client(wsUrl);
    const result = await back.ok<{ recovered: boolean; publications: { data: unknown }[] }>("subscribe", {
      channel: "chat:feed",
      since: position,
    });
    expect(result.recovered).toBe(true);
    expect(result.publications.map((p) => p.data)).toEqual([1, 2, 3].map((n) => ({ event: "item", data: { n } })));
  });

  it("keeps private channels private to native clients without a channel token, and shares client events with those holding one", async () => {
    const { pusher, native } = await start();
    const refused = await native.fails("subscribe", { channel: "chat:private-ops" });
    expect(refused.code).toBe(ErrorCode.unauthorized);
    const token = await sign({ sub: "", channel: "chat:private-ops" });
    await native.ok("subscribe", { channel: "chat:private-ops", token });

    const { channel } = await subscribed(pusher, "private-ops");
    channel.trigger("client-ping", { at: 1 });
    const [event] = await native.waitForPushes<PublicationPush>("publication", 1, "chat:private-ops");
    expect(event?.data).toEqual({ event: "client-ping", data: { at: 1 }, socket_id: pusher.connection.socket_id });
    // Native clients may not publish into a Pusher app's own namespace; here the namespace is shared and allows it.
    const back = next(channel, "message");
    await native.ok("publish", { channel: "chat:private-ops", data: { ack: true } });
    expect(await back).toEqual({ ack: true });
  });

  it("keeps an app's own namespace out of native clients' reach", async () => {
    const { node, wsUrl } = await cluster.node({ pusherApps: [TEST_APP], tokenHmacSecret: TEST_SECRET });
    const native = await cluster.client(wsUrl);
    const refused = await native.fails("subscribe", { channel: `pusher.${TEST_APP.id}:news` });
    expect(refused.code).toBe(ErrorCode.unauthorized);
    const publish = await native.fails("publish", { channel: `pusher.${TEST_APP.id}:news`, data: {} });
    expect(publish.code).toBe(ErrorCode.permissionDenied);
    expect(node.address.port).toBeGreaterThan(0);
  });
});
