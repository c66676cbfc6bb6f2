import { afterEach, describe, expect, it } from "vitest";
import { gatedHistoryEngine } from "../../../test/support/engines.js";
import { TestCluster } from "../../../test/support/nodes.js";

const cluster = new TestCluster();
afterEach(() => cluster.cleanup());

describe("presence and join/leave", () => {
  it("lists who is subscribed, with counts of clients and users", async () => {
    const { wsUrl } = await cluster.node({}, { authenticate: ({ token }) => Promise.resolve({ user: token ?? "" }) });
    const alice1 = await cluster.client(wsUrl, false);
    const alice2 = await cluster.client(wsUrl, false);
    const bob = await cluster.client(wsUrl, false);
    const ids: string[] = [];
    for (const [c, user] of [
      [alice1, "alice"],
      [alice2, "alice"],
      [bob, "bob"],
    ] as const) {
      ids.push((await c.ok<{ client: string }>("connect", { token: user })).client);
      await c.ok("subscribe", { channel: "chat:p" });
    }
    const { clients } = await bob.ok<{ clients: Record<string, { client: string; user: string }> }>("presence", {
      channel: "chat:p",
    });
    expect(Object.keys(clients).sort()).toEqual([...ids].sort());
    expect(clients[ids[2] ?? ""]).toEqual({ client: ids[2], user: "bob" });
    expect(await bob.ok("presence_stats", { channel: "chat:p" })).toEqual({ numClients: 3, numUsers: 2 });

    // A join and a leave heard in one period cancel out: let the joins go out first.
    await bob.waitForMembers("join", 3, "chat:p");
    await alice2.close();
    await bob.waitForMembers("leave", 1, "chat:p");
    expect(await bob.ok("presence_stats", { channel: "chat:p" })).toEqual({ numClients: 2, numUsers: 2 });
    await alice1.ok("unsubscribe", { channel: "chat:p" });
    await bob.waitForMembers("leave", 2, "chat:p");
    expect(await bob.ok("presence_stats", { channel: "chat:p" })).toEqual({ numClients: 1, numUsers: 1 });
  });

  it("lists joins to subscribers when someone subscribes, and leaves when they unsubscribe or disconnect", async () => {
    const { wsUrl } = await cluster.node();
    const watcher = await cluster.client(wsUrl);
    await watcher.ok("subscribe", { channel: "chat:j" });
    // The members push is one frame for every subscriber: it lists the joiner's own join too.
    const [selfJoin] = await watcher.waitForMembers("join", 1, "chat:j");
    const guest = await cluster.client(wsUrl);
    await guest.ok("subscribe", { channel: "chat:j" });
    const joins = await watcher.waitForMembers("join", 2, "chat:j");
    const guestClient = joins[1]?.info.client;
    expect(guestClient).toBeDefined();
    expect(guestClient).not.toBe(selfJoin?.info.client);
    await guest.ok("unsubscribe", { channel: "chat:j" });
    const [leave] = await watcher.waitForMembers("leave", 1, "chat:j");
    expect(leave).toEqual({ channel: "chat:j", info: { client: guestClient, user: "" } });
    await guest.ok("subscribe", { channel: "chat:j" });
    await watcher.waitForMembers("join", 3, "chat:j");
    await guest.close();
    expect((await watcher.waitForMembers("leave", 2, "chat:j"))[1]?.info.client).toBe(guestClient);
    expect(watcher.pushes("join")).toEqual([]); // never one push per member
  });

  it("sends no join/leave in namespaces without them", async () => {
    const { wsUrl } = await cluster.node();
    const a = await cluster.client(wsUrl);
    const b = await cluster.client(wsUrl);
    await a.ok("subscribe", { channel: "plain:q" });
    await b.ok("subscribe", { channel: "plain:q" });
    await b.ok("unsubscribe", { channel: "plain:q" });
    await b.ok("publish", { channel: "plain:q", data: "marker" });
    await a.waitForPushes("publication", 1, "plain:q"); // everything before the marker has arrived
    expect(a.pushes("members")).toEqual([]);
    expect(a.pushes("join")).toEqual([]);
    expect(a.pushes("leave")).toEqual([]);
  });

  it.each(["unsubscribes", "disconnects"] as const)(
    "leaves no presence entry when a client %s while its subscribe is in flight",
    async (how) => {
      const { engine, readStarted, open } = gatedHistoryEngine("before read");
      const { wsUrl } = await cluster.node({}, { engine });
      const quitter = await cluster.client(wsUrl);
      const reply = quitter.command("subscribe", { channel: "chat:race" });
      await readStarted;
      if (how === "unsubscribes") await quitter.ok("unsubscribe", { channel: "chat:race" });
      else await quitter.close();
      open();
      if (how === "unsubscribes") {
        expect((await reply)["subscribe"]).toBeDefined(); // the reply still comes...
      }
      const watcher = await cluster.client(wsUrl);
      await watcher.ok("subscribe", { channel: "chat:race" });
      expect(await watcher.ok("presence_stats", { channel: "chat:race" })).toEqual({ numClients: 1, numUsers: 1 });
      if (how === "unsubscribes") {
        await watcher.ok("publish", { channel: "chat:race", data: "after" });
        await watcher.waitForPushes("publication", 1, "chat:race");
        expect(quitter.pushes("publication")).toEqual([]); // ...but nothing follows it
      }
    },
  );
});
