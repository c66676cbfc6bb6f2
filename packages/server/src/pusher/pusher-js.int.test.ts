import { afterEach, describe, expect, it } from "vitest";
import type PusherServer from "pusher";
import type { PresenceChannel } from "pusher-js";
import WebSocket from "ws";
import { TestCluster } from "../../../../test/support/nodes.js";
import type { PusherJs } from "../../../../test/support/pusher.js";
import { TEST_APP, connected, next, pusherClient, serverSdk, subscribed } from "../../../../test/support/pusher.js";
import type { HubcastNode } from "../node.js";
import type { NodeOptions } from "../options.js";

const cluster = new TestCluster();
const clients: PusherJs[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await cluster.cleanup();
});

async function start(options: NodeOptions = {}): Promise<{ port: number; sdk: PusherServer; node: HubcastNode }> {
  const { node } = await cluster.node({ pusherApps: [TEST_APP], ...options });
  const port = node.address.port;
  return { port, sdk: serverSdk(port), node };
}

async function client(
  port: number,
  sdk: PusherServer,
  user = "user-1",
  info?: Record<string, unknown>,
): Promise<PusherJs> {
  const c = pusherClient(port, sdk, { id: user, info });
  clients.push(c);
  await connected(c);
  return c;
}

/** Opens a raw WebSocket on `path` and resolves with the first message and how the socket closed. */
function rawConnect(port: number, path: string): Promise<{ first: unknown; close: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    let first: unknown;
    ws.on("message", (data) => {
      first ??= JSON.parse(String(data));
    });
    ws.on("close", (code) => resolve({ first, close: code }));
    ws.on("error", reject);
  });
}

describe("the Pusher protocol with pusher-js", () => {
  it("connects with a Pusher socket id and delivers server events to public channels, skipping socket_id", async () => {
    const { port, sdk } = await start();
    const a = await client(port, sdk);
    const b = await client(port, sdk);
    expect(a.connection.socket_id).toMatch(/^\d+\.\d+$/);
    const { channel: onA } = await subscribed(a, "news");
    const { channel: onB } = await subscribed(b, "news");
    const gotA = next(onA, "headline");
    const gotBoth = next(onB, "headline");
    await sdk.trigger("news", "headline", { title: "hello" });
    expect(await gotA).toEqual({ title: "hello" });
    expect(await gotBoth).toEqual({ title: "hello" });
    // socket_id excludes that connection: b gets it, a does not (a's next event is the second one).
    const gotB = next(onB, "headline");
    const aNext = next(onA, "headline");
    await sdk.trigger("news", "headline", { title: "not for a" }, { socket_id: a.connection.socket_id });
    await sdk.trigger("news", "headline", { title: "for both" });
    expect(await gotB).toEqual({ title: "not for a" });
    expect(await aNext).toEqual({ title: "for both" });
  });

  it("authorizes private channels by the app's signature and refuses a forged one with a subscription error", async () => {
    const { port, sdk } = await start();
    const good = await client(port, sdk);
    const { channel } = await subscribed(good, "private-orders");
    const got = next(channel, "shipped");
    await sdk.trigger("private-orders", "shipped", { id: 7 });
    expect(await got).toEqual({ id: 7 });

    const forger = serverSdk(port, { ...TEST_APP, secret: "not-the-secret-at-all" });
    const bad = pusherClient(port, forger);
    clients.push(bad);
    await connected(bad);
    const refused = bad.subscribe("private-orders");
    const error = await next<{ status: number; type: string }>(refused, "pusher:subscription_error");
    expect(error).toMatchObject({ type: "AuthError", status: 401 });
  });

  it("relays end-to-end encrypted channels: pusher-js decrypts, while the server and other readers see only ciphertext", async () => {
    const { port } = await start();
    const masterKey = Buffer.alloc(32, 7).toString("base64");
    const sdk = serverSdk(port, TEST_APP, { encryptionMasterKeyBase64: masterKey });
    const reader = await client(port, sdk);
    const { channel } = await subscribed(reader, "private-encrypted-vault");
    // A raw client authorized for the channel, without the key: what the node relays.
    const raw = new WebSocket(`ws://127.0.0.1:${port}/app/${TEST_APP.key}?protocol=7`);
    const messages: { event: string; data?: string }[] = [];
    raw.on("message", (data) => messages.push(JSON.parse(String(data))));
    await expect.poll(() => messages.length).toBe(1);
    const socketId = JSON.parse(messages[0]?.data ?? "{}").socket_id as string;
    const { auth } = sdk.authorizeChannel(socketId, "private-encrypted-vault");
    raw.send(JSON.stringify({ event: "pusher:subscribe", data: { channel: "private-encrypted-vault", auth } }));
    await expect.poll(() => messages.map((m) => m.event)).toContain("pusher_internal:subscription_succeeded");

    const secret = next(channel, "code");
    await sdk.trigger("private-encrypted-vault", "code", { pin: "0451" });
    expect(await secret).toEqual({ pin: "0451" });
    await expect.poll(() => messages.find((m) => m.event === "code")).toBeDefined();
    const relayed = JSON.parse(messages.find((m) => m.event === "code")?.data ?? "{}");
    expect(Object.keys(relayed).sort()).toEqual(["ciphertext", "nonce"]);
    expect(JSON.stringify(relayed)).not.toContain("0451");
    raw.close();
  });

  it("keeps presence members by user: one member for two connections, member_removed after the last leaves", async () => {
    const { port, sdk } = await start();
    const alice = await client(port, sdk, "alice", { name: "Alice" });
    const { channel: room } = await subscribed<{ count: number }>(alice, "presence-room");
    const aliceRoom = room as PresenceChannel;
    expect(aliceRoom.members.count).toBe(1);

    const added = next<{ id: string; info: unknown }>(aliceRoom, "pusher:member_added");
    const bob1 = await client(port, sdk, "bob", { name: "Bob" });
    const { channel: bobRoom } = await subscribed(bob1, "presence-room");
    expect(await added).toEqual({ id: "bob", info: { name: "Bob" } });
    expect((bobRoom as PresenceChannel).members.count).toBe(2);
    expect((bobRoom as PresenceChannel).members.me).toMatchObject({ id: "bob" });

    // A second connection of bob adds no member; its leaving removes none.
    let extraAdds = 0;
    aliceRoom.bind("pusher:member_added", () => {
      extraAdds += 1;
    });
    const bob2 = await client(port, sdk, "bob", { name: "Bob" });
    const { channel: bob2Room } = await subscribed(bob2, "presence-room");
    expect((bob2Room as PresenceChannel).members.count).toBe(2);
    bob2.disconnect();
    const removed = next<{ id: string }>(aliceRoom, "pusher:member_removed");
    bob1.disconnect();
    expect((await removed).id).toBe("bob");
    expect(extraAdds).toBe(0);
    expect(aliceRoom.members.count).toBe(1);
  });

  it("leaves no presence member behind when a presence subscribe is cancelled while it is being made", async () => {
    const { port, sdk } = await start();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${TEST_APP.key}?protocol=7`);
    const messages: { event: string; data?: string }[] = [];
    ws.on("message", (data) => messages.push(JSON.parse(String(data))));
    await expect.poll(() => messages.length).toBe(1);
    const socketId = JSON.parse(messages[0]?.data ?? "{}").socket_id as string;
    const signed = sdk.authorizeChannel(socketId, "presence-flaky", { user_id: "ghost" });
    // Subscribe and unsubscribe in one breath: the unsubscribe lands while the subscribe awaits the engine.
    ws.send(JSON.stringify({ event: "pusher:subscribe", data: { channel: "presence-flaky", ...signed } }));
    ws.send(JSON.stringify({ event: "pusher:unsubscribe", data: { channel: "presence-flaky" } }));
    ws.send(JSON.stringify({ event: "pusher:ping", data: {} }));
    await expect.poll(() => messages.some((m) => m.event === "pusher:pong")).toBe(true);
    await expect
      .poll(async () => (await (await sdk.get({ path: "/channels/presence-flaky/users" })).json()).users)
      .toEqual([]);
    expect(messages.map((m) => m.event)).not.toContain("pusher_internal:subscription_succeeded");
    ws.close();
  });

  it("relays client events to the others on private and presence channels, never to the sender", async () => {
    const { port, sdk } = await start();
    const a = await client(port, sdk, "a");
    const b = await client(port, sdk, "b");
    const { channel: onA } = await subscribed(a, "presence-game");
    const { channel: onB } = await subscribed(b, "presence-game");
    let echoed = false;
    onB.bind("client-move", () => {
      echoed = true;
    });
    const got = new Promise<{ data: unknown; meta: unknown }>((resolve) =>
      onA.bind("client-move", (data: unknown, meta: unknown) => resolve({ data, meta })),
    );
    onB.trigger("client-move", { x: 1 });
    expect(await got).toEqual({ data: { x: 1 }, meta: { user_id: "b" } });
    // A server event after it arrives at b: had the client event been echoed, it would have come first.
    const after = next(onB, "tick");
    await sdk.trigger("presence-game", "tick", {});
    await after;
    expect(echoed).toBe(false);
  });

  it("refuses client events on public channels, when the app disallows them, and past the rate limit", async () => {
    const { port, sdk } = await start({
      pusherApps: [
        { ...TEST_APP, maxClientEventsPerSecond: 2 },
        { id: "2", key: "quiet", secret: "quiet-secret-123" },
      ],
    });
    const a = await client(port, sdk);
    const errors: { code: number | null; message: string }[] = [];
    a.connection.bind("error", (e: { data?: { code: number | null; message: string } }) => {
      if (e.data !== undefined) errors.push(e.data);
    });
    const { channel: open } = await subscribed(a, "lobby");
    open.trigger("client-hi", {});
    await expect.poll(() => errors.length).toBe(1);
    expect(errors[0]?.message).toMatch(/private and presence channels/);

    const { channel: priv } = await subscribed(a, "private-x");
    for (let i = 0; i < 4; i += 1) priv.trigger("client-burst", { i });
    await expect.poll(() => errors.filter((e) => e.code === 4301).length).toBe(2);

    const quietSdk = serverSdk(port, { id: "2", key: "quiet", secret: "quiet-secret-123" });
    const q = pusherClient(port, quietSdk, { id: "q" }, {}, "quiet");
    clients.push(q);
    await connected(q);
    const qErrors: string[] = [];
    q.connection.bind("error", (e: { data?: { message: string } }) => {
      if (e.data !== undefined) qErrors.push(e.data.message);
    });
    const { channel: qc } = await subscribed(q, "private-q");
    qc.trigger("client-no", {});
    await expect.poll(() => qErrors.length).toBe(1);
    expect(qErrors[0]).toMatch(/not enabled/);
  });

  it("gives cache channels their last event on subscribe, and pusher:cache_miss when there is none", async () => {
    const { port, sdk } = await start();
    const a = await client(port, sdk);
    const channel = a.subscribe("cache-prices");
    const miss = next(channel, "pusher:cache_miss");
    await next(channel, "pusher:subscription_succeeded");
    await miss;
    await sdk.trigger("cache-prices", "price", { v: 1 });
    await sdk.trigger("cache-prices", "price", { v: 2 });
    const b = await client(port, sdk);
    const late = b.subscribe("cache-prices");
    expect(await next(late, "price")).toEqual({ v: 2 });
  });

  it("signs users in, delivers events sent to them, and ends their connections on terminate (4009, no reconnect)", async () => {
    const { port, sdk } = await start();
    const a = await client(port, sdk, "ann");
    a.signin();
    await expect.poll(() => a.user.user_data?.id).toBe("ann");
    const got = new Promise((resolve) => a.user.bind("note", resolve));
    // The user channel is subscribed after sign-in; retry until it lands.
    const sending = setInterval(() => void sdk.sendToUser("ann", "note", { hi: 1 }).catch(() => undefined), 100);
    try {
      expect(await got).toEqual({ hi: 1 });
    } finally {
      clearInterval(sending);
    }
    const closed = new Promise<unknown>((resolve) => a.connection.bind("error", resolve));
    await sdk.terminateUserConnections("ann");
    expect(await closed).toMatchObject({ data: { code: 4009 } });
    await expect.poll(() => a.connection.state).toBe("disconnected");
  });

  it("refuses a user channel to a connection not signed in as that user", async () => {
    // pusher-js will not even try (it subscribes to its user channel itself): a raw client does.
    const { port } = await start();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${TEST_APP.key}?protocol=7`);
    const messages: { event: string; channel?: string; data?: string }[] = [];
    ws.on("message", (data) => messages.push(JSON.parse(String(data))));
    await expect.poll(() => messages.length).toBe(1);
    ws.send(JSON.stringify({ event: "pusher:subscribe", data: { channel: "#server-to-user-bob" } }));
    await expect.poll(() => messages.length).toBe(2);
    expect(messages[1]).toMatchObject({ event: "pusher:subscription_error", channel: "#server-to-user-bob" });
    expect(JSON.parse(messages[1]?.data ?? "{}")).toMatchObject({ status: 403 });
    ws.close();
  });

  it("turns away unknown keys (4001), missing or unsupported protocols (4008, 4007), disabled apps (4003) and full apps (4004)", async () => {
    const { port } = await start({
      pusherApps: [
        TEST_APP,
        { id: "off", key: "off-key", secret: "off-secret-123", enabled: false },
        { id: "one", key: "one-key", secret: "one-secret-123", maxConnections: 1 },
      ],
    });
    const cases: [string, number][] = [
      ["/app/nope?protocol=7", 4001],
      [`/app/${TEST_APP.key}`, 4008],
      [`/app/${TEST_APP.key}?protocol=3`, 4007],
      ["/app/off-key?protocol=7", 4003],
    ];
    for (const [path, code] of cases) {
      const { first, close } = await rawConnect(port, path);
      expect(close, path).toBe(code);
      expect(first, path).toMatchObject({ event: "pusher:error" });
      expect(JSON.parse((first as { data: string }).data)).toMatchObject({ code });
    }
    const holder = new WebSocket(`ws://127.0.0.1:${port}/app/one-key?protocol=7`);
    await new Promise((resolve) => holder.once("message", resolve));
    const { close } = await rawConnect(port, "/app/one-key?protocol=7");
    expect(close).toBe(4004);
    holder.close();
  });

  it("answers pusher:ping with pusher:pong and keeps unparseable messages to a pusher:error", async () => {
    const { port } = await start();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${TEST_APP.key}?protocol=7`);
    const messages: { event: string; data?: string }[] = [];
    ws.on("message", (data) => messages.push(JSON.parse(String(data))));
    await expect.poll(() => messages.length).toBe(1);
    ws.send("not json");
    ws.send(JSON.stringify({ event: "pusher:ping", data: {} }));
    await expect
      .poll(() => messages.map((m) => m.event))
      .toEqual(["pusher:connection_established", "pusher:error", "pusher:pong"]);
    ws.close();
  });

  it("asks clients to reconnect at once (4200) when the node drains", async () => {
    const { port, sdk, node } = await start({ drainWindowMs: 0 });
    const a = await client(port, sdk);
    const closed = new Promise<unknown>((resolve) => a.connection.bind("error", resolve));
    await node.drain();
    expect(await closed).toMatchObject({ data: { code: 4200 } });
  });
});
