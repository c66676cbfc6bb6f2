import { describe, expect, it } from "vitest";
import { ErrorCode } from "@hubcast/protocol";
import type { PublicationPush } from "@hubcast/protocol";
import { HubcastError } from "./errors.js";
import { LocalCode } from "./local-code.js";
import type { Subscription } from "./subscription.js";
import { useHarness } from "../test/harness.js";
import type { Peer } from "../test/scripted-server.js";
import { nextEvent } from "../test/scripted-server.js";

const h = useHarness();

/** Collects publication data and lifecycle events of a subscription, in order. */
function journal(sub: Subscription): string[] {
  const lines: string[] = [];
  sub.on("publication", (p) => lines.push(`pub ${JSON.stringify(p.data)}@${p.offset ?? "-"}`));
  sub.on("subscribed", (e) => lines.push(`subscribed recovered=${String(e.recovered)} was=${e.wasRecovering}`));
  sub.on("subscribing", (e) => lines.push(`subscribing ${e.code}`));
  sub.on("unsubscribed", (e) => lines.push(`unsubscribed ${e.code}`));
  return lines;
}

const pub = (channel: string, offset: number): PublicationPush => ({ channel, data: `m${offset}`, offset });

async function subscribed(peer: Peer, sub: Subscription, position = { offset: 5, epoch: "e1" }): Promise<void> {
  const ready = sub.ready();
  const { id } = await peer.command("subscribe");
  peer.reply(id, "subscribe", { recoverable: true, position });
  await ready;
}

describe("Subscription", () => {
  it("subscribes once connected and tracks the position through publications", async () => {
    const client = h.client();
    const sub = client.newSubscription("chat");
    const lines = journal(sub);
    sub.subscribe();
    sub.subscribe(); // idempotent
    expect(sub.state).toBe("subscribing");
    client.connect();
    const peer = await h.server().nextPeer();
    await peer.accept();
    const { id, request } = await peer.command("subscribe");
    expect(request).toEqual({ channel: "chat" });
    const subscribedEvent = nextEvent(sub, "subscribed");
    peer.reply(id, "subscribe", { recoverable: true, position: { offset: 5, epoch: "e1" } });
    expect(await subscribedEvent).toEqual({
      recoverable: true,
      position: { offset: 5, epoch: "e1" },
      wasRecovering: false,
    });
    const seventh = nextEvent(sub, "publication", (p) => p.offset === 7);
    peer.push("publication", pub("other", 99));
    peer.push("publication", pub("chat", 6));
    peer.push("publication", pub("chat", 7));
    await seventh;
    expect(sub.position).toEqual({ offset: 7, epoch: "e1" });
    expect(lines).toEqual([
      `subscribing ${LocalCode.connectCalled}`,
      "subscribed recovered=undefined was=false",
      'pub "m6"@6',
      'pub "m7"@7',
    ]);
  });

  it("resubscribes with since after a reconnect and emits recovered publications before subscribed", async () => {
    const { client, peer } = await h.connected();
    const sub = client.newSubscription("chat");
    sub.subscribe();
    await subscribed(peer, sub);
    const live = nextEvent(sub, "publication");
    peer.push("publication", pub("chat", 6));
    await live;
    const lines = journal(sub);
    peer.close(3000, "shutdown");
    const second = await h.server().nextPeer();
    await second.accept();
    const { id, request } = await second.command("subscribe");
    expect(request).toEqual({ channel: "chat", since: { offset: 6, epoch: "e1" } });
    const done = nextEvent(sub, "subscribed");
    second.reply(id, "subscribe", {
      recoverable: true,
      recovered: true,
      position: { offset: 8, epoch: "e1" },
      publications: [
        { data: "m7", offset: 7 },
        { data: "m8", offset: 8 },
      ],
    });
    expect(await done).toEqual({
      recoverable: true,
      recovered: true,
      wasRecovering: true,
      position: { offset: 8, epoch: "e1" },
    });
    expect(lines).toEqual(["subscribing 3000", 'pub "m7"@7', 'pub "m8"@8', "subscribed recovered=true was=true"]);
    expect(sub.position).toEqual({ offset: 8, epoch: "e1" });
  });

  it("takes the new position when recovery fails", async () => {
    const { client, peer } = await h.connected();
    const sub = client.newSubscription("chat");
    sub.subscribe();
    await subscribed(peer, sub);
    peer.close(3000, "shutdown");
    const second = await h.server().nextPeer();
    await second.accept();
    const { id } = await second.command("subscribe");
    const done = nextEvent(sub, "subscribed");
    second.reply(id, "subscribe", { recoverable: true, recovered: false, position: { offset: 0, epoch: "e2" } });
    expect(await done).toMatchObject({ recovered: false, wasRecovering: true });
    expect(sub.position).toEqual({ offset: 0, epoch: "e2" });
  });

  it("goes unsubscribed and reports a final subscribe error", async () => {
    const { client, peer } = await h.connected();
    const sub = client.newSubscription("secret");
    const errorEvent = nextEvent(sub, "error");
    const unsubscribed = nextEvent(sub, "unsubscribed");
    sub.subscribe();
    const ready = sub.ready();
    const { id } = await peer.command("subscribe");
    peer.replyError(id, { code: ErrorCode.permissionDenied, message: "no", temporary: false });
    expect(await unsubscribed).toEqual({ code: ErrorCode.permissionDenied, reason: "no" });
    expect((await errorEvent).error).toBeInstanceOf(HubcastError);
    await expect(ready).rejects.toMatchObject({ code: ErrorCode.permissionDenied });
    expect(sub.state).toBe("unsubscribed");
  });

  it("retries a temporary subscribe error with backoff", async () => {
    const { client, peer } = await h.connected();
    const sub = client.newSubscription("chat");
    const errorEvent = nextEvent(sub, "error");
    sub.subscribe();
    const first = await peer.command("subscribe");
    peer.replyError(first.id, { code: ErrorCode.internal, message: "busy", temporary: true });
    expect((await errorEvent).error).toMatchObject({ code: ErrorCode.internal, temporary: true });
    await subscribed(peer, sub);
    expect(sub.state).toBe("subscribed");
  });

  it("reconnects when a subscribe times out, then resubscribes", async () => {
    const { client, peer } = await h.connected({ timeoutMs: 250 });
    const sub = client.newSubscription("chat");
    sub.on("error", () => {}); // the timeout is reported; this test expects it
    sub.subscribe();
    await peer.command("subscribe");
    const disconnected = nextEvent(client, "disconnected");
    expect(await disconnected).toMatchObject({ code: LocalCode.subscribeTimeout, reconnect: true });
    const second = await h.server().nextPeer();
    await second.accept();
    await subscribed(second, sub);
  });

  it("a server unsubscribe push ends the subscription and later publications are ignored", async () => {
    const { client, peer } = await h.connected();
    const sub = client.newSubscription("chat");
    sub.subscribe();
    await subscribed(peer, sub);
    const lines = journal(sub);
    const unsubscribed = nextEvent(sub, "unsubscribed");
    peer.push("unsubscribe", { channel: "chat", code: 4000, reason: "channel closed", resubscribe: false });
    peer.push("publication", pub("chat", 6));
    expect(await unsubscribed).toEqual({ code: 4000, reason: "channel closed" });
    // A round trip after the stray publication proves it was delivered and ignored.
    const stats = client.presenceStats("chat");
    const { id } = await peer.command("presence_stats");
    peer.reply(id, "presence_stats", { numClients: 0, numUsers: 0 });
    await stats;
    expect(lines).toEqual(["unsubscribed 4000"]);
    expect(sub.position).toBeUndefined();
  });

  it("an unsubscribe push with resubscribe: true resubscribes at once from the last position", async () => {
    const { client, peer } = await h.connected();
    const sub = client.newSubscription("chat");
    sub.subscribe();
    await subscribed(peer, sub, { offset: 5, epoch: "e1" });
    peer.push("publication", pub("chat", 6));
    const subscribing = nextEvent(sub, "subscribing");
    peer.push("unsubscribe", { channel: "chat", code: 2000, reason: "insufficient_state", resubscribe: true });
    expect(await subscribing).toEqual({ code: 2000, reason: "insufficient_state" });
    const { id, request } = await peer.command("subscribe");
    expect(request).toEqual({ channel: "chat", since: { offset: 6, epoch: "e1" } });
    const resubscribed = nextEvent(sub, "subscribed");
    peer.reply(id, "subscribe", {
      recoverable: true,
      position: { offset: 7, epoch: "e1" },
      recovered: true,
      publications: [{ data: 7, offset: 7 }],
    });
    expect(await resubscribed).toMatchObject({ recovered: true, wasRecovering: true });
    expect(sub.position).toEqual({ offset: 7, epoch: "e1" });
  });

  it("turns a members push into leave then join events, its own join included, or a summary event", async () => {
    const { client, peer } = await h.connected(undefined, { client: "me" });
    const sub = client.newSubscription("room");
    sub.subscribe();
    await subscribed(peer, sub);
    const events: string[] = [];
    sub.on("join", (e) => events.push(`join ${e.channel} ${e.info.client}`));
    sub.on("leave", (e) => events.push(`leave ${e.channel} ${e.info.client}`));
    const summary = nextEvent(sub, "membersSummary");
    const user = (client: string) => ({ client, user: "" });
    peer.push("members", {
      channel: "room",
      leaves: [user("a"), user("b")],
      joins: [user("c"), user("me"), user("a")],
    });
    peer.push("members", { channel: "room", leaves: [], joins: [], summary: { joins: 500, leaves: 2 } });
    expect(await summary).toEqual({ channel: "room", joins: 500, leaves: 2 });
    expect(events).toEqual(["leave room a", "leave room b", "join room c", "join room me", "join room a"]);
  });

  it("emits join and leave while subscribed, and delegates channel commands", async () => {
    const { client, peer } = await h.connected();
    const sub = client.newSubscription("room");
    sub.subscribe();
    await subscribed(peer, sub);
    const join = nextEvent(sub, "join");
    const leave = nextEvent(sub, "leave");
    const info = { client: "x", user: "u1" };
    peer.push("join", { channel: "room", info });
    peer.push("leave", { channel: "room", info });
    expect(await join).toEqual({ channel: "room", info });
    expect(await leave).toEqual({ channel: "room", info });
    const published = sub.publish({ hello: true });
    const cmd = await peer.command("publish");
    expect(cmd.request).toMatchObject({ channel: "room", data: { hello: true } });
    peer.reply(cmd.id, "publish", {});
    await published;
    const history = sub.history({ since: { offset: 1, epoch: "e1" } });
    const hcmd = await peer.command("history");
    expect(hcmd.request).toEqual({ channel: "room", since: { offset: 1, epoch: "e1" } });
    peer.reply(hcmd.id, "history", { publications: [], position: { offset: 5, epoch: "e1" } });
    expect(await history).toEqual({ publications: [], position: { offset: 5, epoch: "e1" } });
  });

  it("unsubscribe() tells the server; removeSubscription() forgets the subscription", async () => {
    const { client, peer } = await h.connected();
    const sub = client.newSubscription("chat");
    expect(() => client.newSubscription("chat")).toThrow(/exists/);
    sub.subscribe();
    await subscribed(peer, sub);
    const unsubscribed = nextEvent(sub, "unsubscribed");
    client.removeSubscription(sub);
    expect(await unsubscribed).toEqual({ code: LocalCode.disconnectCalled, reason: "unsubscribe called" });
    const { id, request } = await peer.command("unsubscribe");
    expect(request).toEqual({ channel: "chat" });
    peer.reply(id, "unsubscribe", {});
    expect(client.getSubscription("chat")).toBeUndefined();
    expect(sub.position).toBeUndefined();
    expect(() => sub.subscribe()).toThrow(/removed/);
    expect(client.newSubscription("chat")).not.toBe(sub);
  });

  it("sends unsubscribe before a subscribe made from an unsubscribed listener", async () => {
    const { client, peer } = await h.connected();
    const sub = client.newSubscription("chat");
    sub.subscribe();
    await subscribed(peer, sub);
    sub.once("unsubscribed", () => sub.subscribe());
    sub.unsubscribe();
    const isCommand = (f: Record<string, unknown>): boolean => typeof f["id"] === "number";
    expect(await peer.take(isCommand, "the first command")).toHaveProperty("unsubscribe");
    const second = await peer.take(isCommand, "the second command");
    expect(second["subscribe"]).toEqual({ channel: "chat" }); // no `since`: unsubscribe forgot the position
    expect(sub.state).toBe("subscribing");
  });
});
