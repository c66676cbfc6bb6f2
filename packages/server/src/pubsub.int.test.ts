import { ErrorCode } from "@hubcast/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { RawClient } from "../../../test/support/raw-client.js";
import { TestCluster } from "../../../test/support/nodes.js";

const cluster = new TestCluster();
afterEach(() => cluster.cleanup());

describe("publish and subscribe over real sockets", () => {
  it("delivers a publication to a subscriber, with the publisher's info", async () => {
    const { wsUrl } = await cluster.node();
    const sub = await cluster.client(wsUrl);
    const pub = await cluster.client(wsUrl);
    const me = await pub.ok<{ client: string }>("connect", {}).catch(() => undefined);
    expect(me).toBeUndefined(); // a second connect is refused: already connected
    await sub.ok("subscribe", { channel: "plain:news" });
    const result = await pub.ok("publish", { channel: "plain:news", data: { text: "hello", n: [1, 2] } });
    expect(result).toEqual({}); // no history in "plain": no position
    const [got] = await sub.waitForPushes<{ data: unknown; info: { client: string; user: string } }>("publication", 1);
    expect(got?.data).toEqual({ text: "hello", n: [1, 2] });
    expect(got?.info.user).toBe("");
    expect(typeof got?.info.client).toBe("string");
  });

  it("gives every one of many subscribers the publication exactly once", async () => {
    const { node, wsUrl } = await cluster.node();
    const subscribers = await Promise.all(Array.from({ length: 150 }, () => cluster.client(wsUrl)));
    await Promise.all(subscribers.map((s) => s.ok("subscribe", { channel: "chat:all" })));
    expect(node.info().subscriptions).toBe(150);
    const publisher = await cluster.client(wsUrl);
    for (let i = 1; i <= 3; i++) await publisher.ok("publish", { channel: "chat:all", data: i });
    for (const s of subscribers) {
      const pubs = await s.waitForPushes<{ data: number; offset: number }>("publication", 3, "chat:all");
      expect(pubs.map((p) => p.data)).toEqual([1, 2, 3]);
      expect(pubs.map((p) => p.offset)).toEqual([1, 2, 3]);
    }
    // Exactly once: after a later marker publication, no subscriber holds more than 4.
    await publisher.ok("publish", { channel: "chat:all", data: "end" });
    for (const s of subscribers) expect(await s.waitForPushes("publication", 4, "chat:all")).toHaveLength(4);
  });

  it("stops delivering after unsubscribe and releases the channel", async () => {
    const { node, wsUrl } = await cluster.node();
    const a = await cluster.client(wsUrl);
    const b = await cluster.client(wsUrl);
    await a.ok("subscribe", { channel: "plain:x" });
    await b.ok("subscribe", { channel: "plain:x" });
    await a.ok("unsubscribe", { channel: "plain:x" });
    await b.ok("publish", { channel: "plain:x", data: "after" });
    await b.waitForPushes("publication", 1);
    expect(a.pushes("publication")).toHaveLength(0);
    expect(node.info().channels).toBe(1);
    await b.ok("unsubscribe", { channel: "plain:x" });
    expect(node.info().channels).toBe(0);
    expect(await a.ok("unsubscribe", { channel: "plain:x" })).toEqual({}); // idempotent
  });

  it("refuses what the namespace does not allow, with catalogue codes", async () => {
    const { wsUrl } = await cluster.node();
    const c = await cluster.client(wsUrl);
    expect((await c.fails("publish", { channel: "readonly:x", data: 1 })).code).toBe(ErrorCode.permissionDenied);
    expect((await c.fails("subscribe", { channel: "nope:x" })).code).toBe(ErrorCode.unknownChannel);
    expect((await c.fails("subscribe", { channel: "members:x" })).code).toBe(ErrorCode.unauthorized);
    expect((await c.fails("subscribe", { channel: "bad channel" })).code).toBe(ErrorCode.unknownChannel);
    expect((await c.fails("subscribe", { channel: "x".repeat(256) })).code).toBe(ErrorCode.unknownChannel);
    await c.ok("subscribe", { channel: "plain:y" });
    expect((await c.fails("subscribe", { channel: "plain:y" })).code).toBe(ErrorCode.alreadySubscribed);
    expect((await c.fails("history", { channel: "plain:y" })).code).toBe(ErrorCode.notAvailable);
    expect((await c.fails("presence", { channel: "plain:y" })).code).toBe(ErrorCode.notAvailable);
  });

  it("lets the authenticate hook decide who connects and who may subscribe", async () => {
    const { wsUrl } = await cluster.node(
      {},
      {
        authenticate: ({ token }) =>
          Promise.resolve(
            token === "alice-secret"
              ? { user: "alice", info: { name: "Alice" } }
              : token === undefined
                ? { user: "" }
                : null,
          ),
      },
    );
    const anonymous = await cluster.client(wsUrl);
    expect((await anonymous.fails("subscribe", { channel: "members:club" })).code).toBe(ErrorCode.unauthorized);

    const intruder = await cluster.client(wsUrl, false);
    expect((await intruder.fails("connect", { token: "guess" })).code).toBe(ErrorCode.unauthorized);

    const alice = await cluster.client(wsUrl, false);
    await alice.ok("connect", { token: "alice-secret" });
    await alice.ok("subscribe", { channel: "members:club" });
    await alice.ok("publish", { channel: "members:club", data: "hi" });
    const [pub] = await alice.waitForPushes<{ info: unknown }>("publication", 1);
    expect(pub?.info).toEqual({ client: expect.any(String), user: "alice", info: { name: "Alice" } });
  });

  it("serves health and readiness, and refuses upgrades on other paths or subprotocols", async () => {
    const { node, wsUrl } = await cluster.node();
    const base = node.address.url;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
    await expect(RawClient.open(wsUrl.replace("/ws", "/other"))).rejects.toThrow(/404/);
    await expect(RawClient.open(wsUrl, "mqtt")).rejects.toThrow(/400/);
    const noProtocol = await RawClient.open(wsUrl, []);
    expect(await noProtocol.ok("connect", {})).toMatchObject({ version: 1 });
    await noProtocol.close();
  });
});
