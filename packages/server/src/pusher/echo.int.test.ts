/**
 * Laravel Echo 2 against a node's Pusher protocol, as a Laravel app's front end uses it, with
 * both broadcasters that speak it: `pusher` (Pusher's own options, authorized by a custom
 * `authorizer`) and `reverb` (Reverb's documented options, authorized by
 * `channelAuthorization.customHandler`). The backend's signatures come from the real `pusher` SDK.
 */
import Echo from "laravel-echo";
import type PusherServer from "pusher";
// Echo's types take the module as pusher-js's types describe it; at run time it is the constructor.
import PusherJsModule from "pusher-js";
import type { ChannelAuthorizationCallback, UserAuthenticationCallback } from "pusher-js";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "../../../../test/support/nodes.js";
import { SwitchProxy } from "../../../../test/support/switch-proxy.js";
import type { HubcastNode } from "../node.js";
import type { NodeOptions } from "../options.js";
import { eventually } from "../../../../test/support/eventually.js";
import { NATIVE_API_KEY, TEST_APP, serverSdk, triggerEvent } from "../../../../test/support/pusher.js";

/** Bound on every wait; nothing sleeps. */
const WAIT_MS = 5_000;

type Broadcaster = "pusher" | "reverb";
type AnyEcho = Echo<"pusher"> | Echo<"reverb">;

/** A Laravel user as the backend's presence authorization describes it: a numeric id, as Laravel sends. */
interface LaravelUser {
  id: number;
  name: string;
}

const ANN: LaravelUser = { id: 1, name: "Ann" };
const BOB: LaravelUser = { id: 2, name: "Bob" };

const cluster = new TestCluster();
const echoes: AnyEcho[] = [];
const proxies: SwitchProxy[] = [];

afterEach(async () => {
  for (const echo of echoes.splice(0)) echo.disconnect();
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await cluster.cleanup();
});

/** Starts a node with the test app and the native API (to publish server events); returns its port. */
async function startNode(): Promise<number> {
  const [node] = await startNodes(1);
  if (node === undefined) throw new Error("no node started");
  return node.address.port;
}

/** Starts `count` nodes as {@link startNode} does (not sharing a broker: each is its own cluster). */
async function startNodes(count: number, options: NodeOptions = {}): Promise<HubcastNode[]> {
  const nodes: HubcastNode[] = [];
  for (let i = 0; i < count; i++)
    nodes.push((await cluster.node({ pusherApps: [TEST_APP], apiKey: NATIVE_API_KEY, ...options })).node);
  return nodes;
}

/**
 * What the app's backend answers for `channel` (Laravel's /broadcasting/auth): the signature,
 * and for presence channels the member. Laravel sends the user id as a JSON number; the SDK's
 * type says string but it encodes what it is given.
 */
function backendAuth(signer: PusherServer, user: LaravelUser, socketId: string, channel: string) {
  const member = channel.startsWith("presence-")
    ? { user_id: user.id as unknown as string, user_info: { id: user.id, name: user.name } }
    : undefined;
  return signer.authorizeChannel(socketId, channel, member);
}

/** An Echo client of the node at `port` through `broadcaster`, signed by `signer` as `user`. */
function echoClient(
  broadcaster: Broadcaster,
  port: number,
  signer: PusherServer = serverSdk(port),
  user: LaravelUser = ANN,
  extra: { activityTimeout?: number } = {},
): AnyEcho {
  // Echo's signin(): what Laravel's /broadcasting/user-auth answers, signed by the backend.
  const userAuthentication = {
    endpoint: "/broadcasting/user-auth",
    headers: {},
    transport: "ajax" as const,
    customHandler: ({ socketId }: { socketId: string }, callback: UserAuthenticationCallback) =>
      callback(null, signer.authenticateUser(socketId, { id: String(user.id), name: user.name })),
  };
  const echo =
    broadcaster === "pusher"
      ? new Echo({
          broadcaster: "pusher",
          Pusher: PusherJsModule,
          key: TEST_APP.key,
          cluster: "mt1",
          wsHost: "127.0.0.1",
          wsPort: port,
          forceTLS: false,
          enabledTransports: ["ws"],
          disableStats: true,
          userAuthentication,
          ...extra,
          // The custom authorizer of Laravel's docs ("Customizing the Authorization Request").
          authorizer: (channel: { name: string }) => ({
            authorize: (socketId: string, callback: ChannelAuthorizationCallback) => {
              callback(null, backendAuth(signer, user, socketId, channel.name));
            },
          }),
        })
      : new Echo({
          broadcaster: "reverb",
          Pusher: PusherJsModule,
          key: TEST_APP.key,
          wsHost: "127.0.0.1",
          wsPort: port,
          wssPort: port,
          forceTLS: false,
          enabledTransports: ["ws", "wss"],
          userAuthentication,
          ...extra,
          channelAuthorization: {
            endpoint: "/broadcasting/auth",
            transport: "ajax",
            customHandler: (
              request: { socketId: string; channelName: string },
              callback: ChannelAuthorizationCallback,
            ) => callback(null, backendAuth(signer, user, request.socketId, request.channelName)),
          },
        });
  echoes.push(echo);
  return echo;
}

/** How many connections the node holds in presence channel `channel` of the test app (native API). */
async function presenceConnections(port: number, channel: string): Promise<number> {
  const url = `http://127.0.0.1:${port}/api/presence?channel=${encodeURIComponent(`pusher.${TEST_APP.id}:${channel}`)}`;
  const res = await fetch(url, { headers: { Authorization: `Bearer ${NATIVE_API_KEY}` } });
  if (res.status !== 200) throw new Error(`presence of ${channel}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { numClients: number }).numClients;
}

/**
 * Resolves with the first argument `register` passes to the callback it is given (an Echo
 * listener), or rejects after {@link WAIT_MS}.
 */
function first<T = unknown>(what: string, register: (callback: (value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: nothing within ${WAIT_MS} ms`)), WAIT_MS);
    register((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

describe.each<Broadcaster>(["pusher", "reverb"])("Laravel Echo with broadcaster: %s", (broadcaster) => {
  it("listens on a public channel: a dotted name as-is, a bare name under App\\Events", async () => {
    const port = await startNode();
    const echo = echoClient(broadcaster, port);
    const orders = echo.channel("orders");
    await first("orders subscribed", (cb) => orders.subscribed(cb));

    const asIs = first("'.OrderShipped'", (cb) => orders.listen(".OrderShipped", cb));
    await triggerEvent(port, { channel: "orders", event: "OrderShipped", data: { order: 7 } });
    expect(await asIs).toEqual({ order: 7 });

    // Laravel broadcasts an event class under its full name; Echo adds the namespace to bare names.
    const namespaced = first("'OrderShipped'", (cb) => orders.listen("OrderShipped", cb));
    await triggerEvent(port, { channel: "orders", event: "App\\Events\\OrderShipped", data: { order: 8 } });
    expect(await namespaced).toEqual({ order: 8 });
  });

  it("subscribes a private channel through the authorizer and receives its events", async () => {
    const port = await startNode();
    const echo = echoClient(broadcaster, port);
    const user = echo.private("user.1");
    await first("private-user.1 subscribed", (cb) => user.subscribed(cb));
    const got = first("'.InvoicePaid'", (cb) => user.listen(".InvoicePaid", cb));
    await triggerEvent(port, { channel: "private-user.1", event: "InvoicePaid", data: { amount: 42 } });
    expect(await got).toEqual({ amount: 42 });
  });

  it("reports .error() for a private channel signed with the wrong secret", async () => {
    const port = await startNode();
    const forger = serverSdk(port, { ...TEST_APP, secret: "not-the-app-secret-at-all" });
    const echo = echoClient(broadcaster, port, forger);
    const orders = echo.private("orders");
    const error = await first<{ type?: string; status?: number }>("private-orders error", (cb) => orders.error(cb));
    expect(error).toMatchObject({ type: "AuthError", status: 401 });
  });

  it("joins a presence channel: here lists the members, joining and leaving follow a second client", async () => {
    const port = await startNode();
    const ann = echoClient(broadcaster, port, serverSdk(port), ANN);
    const annChat = ann.join("chat.1");
    const annHere = await first<unknown[]>("Ann's here", (cb) => annChat.here(cb));
    expect(annHere).toEqual([{ id: 1, name: "Ann" }]);

    const joined = first("Ann sees joining", (cb) => annChat.joining(cb));
    const bob = echoClient(broadcaster, port, serverSdk(port), BOB);
    const bobChat = bob.join("chat.1");
    const bobHere = await first<unknown[]>("Bob's here", (cb) => bobChat.here(cb));
    expect(bobHere).toHaveLength(2);
    expect(bobHere).toEqual(
      expect.arrayContaining([
        { id: 1, name: "Ann" },
        { id: 2, name: "Bob" },
      ]),
    );
    expect(await joined).toEqual({ id: 2, name: "Bob" });

    const left = first("Ann sees leaving", (cb) => annChat.leaving(cb));
    bob.leave("chat.1");
    expect(await left).toEqual({ id: 2, name: "Bob" });
  });

  it("fires leaving when a member's connection drops (a closed tab)", async () => {
    const port = await startNode();
    const ann = echoClient(broadcaster, port, serverSdk(port), ANN);
    const annChat = ann.join("chat.3");
    await first("Ann's here", (cb) => annChat.here(cb));
    const joined = first("Ann sees joining", (cb) => annChat.joining(cb));
    const bob = echoClient(broadcaster, port, serverSdk(port), BOB);
    bob.join("chat.3");
    await joined;
    const left = first("Ann sees leaving", (cb) => annChat.leaving(cb));
    bob.disconnect();
    expect(await left).toEqual({ id: 2, name: "Bob" });
  });

  it("counts a user with two tabs once: no second joining, no leaving until the last tab goes", async () => {
    const port = await startNode();
    const ann = echoClient(broadcaster, port, serverSdk(port), ANN);
    const annChat = ann.join("chat.4");
    await first("Ann's here", (cb) => annChat.here(cb));
    const joinings: unknown[] = [];
    const leavings: unknown[] = [];
    annChat.joining((member: unknown) => joinings.push(member));
    annChat.leaving((member: unknown) => leavings.push(member));

    const bobTab1 = echoClient(broadcaster, port, serverSdk(port), BOB);
    await first("Bob's first tab here", (cb) => bobTab1.join("chat.4").here(cb));
    const bobTab2 = echoClient(broadcaster, port, serverSdk(port), BOB);
    const secondHere = await first<unknown[]>("Bob's second tab here", (cb) => bobTab2.join("chat.4").here(cb));
    expect(secondHere).toHaveLength(2); // Ann and Bob, once

    bobTab1.disconnect();
    await eventually(async () => (await presenceConnections(port, "presence-chat.4")) === 2, WAIT_MS, "tab 1 gone");
    const lastLeaving = first("Ann sees Bob leave", (cb) => annChat.leaving(cb));
    bobTab2.leave("chat.4");
    await lastLeaving;
    // Carol joins last: a member_added or member_removed the tabs caused would have reached Ann before hers.
    const carolJoins = first("Ann sees Carol", (cb) => annChat.joining(cb));
    echoClient(broadcaster, port, serverSdk(port), { id: 3, name: "Carol" }).join("chat.4");
    await carolJoins;
    expect(joinings).toEqual([
      { id: 2, name: "Bob" },
      { id: 3, name: "Carol" },
    ]);
    expect(leavings).toEqual([{ id: 2, name: "Bob" }]);
  });

  it("receives a broadcast notification on the user's private channel", async () => {
    const port = await startNode();
    const echo = echoClient(broadcaster, port);
    const user = echo.private("App.Models.User.1");
    await first("private-App.Models.User.1 subscribed", (cb) => user.subscribed(cb));
    const got = first("notification", (cb) => user.notification(cb));
    const notification = { id: "b1f0", type: "App\\Notifications\\InvoicePaid", amount: 42 };
    await triggerEvent(port, {
      channel: "private-App.Models.User.1",
      event: "Illuminate\\Notifications\\Events\\BroadcastNotificationCreated",
      data: notification,
    });
    expect(await got).toEqual(notification);
  });

  it("signs in (Echo's signin) and receives server events sent to the user", async () => {
    const port = await startNode();
    const echo = echoClient(broadcaster, port);
    const { pusher } = echo.connector;
    // pusher-js subscribes the user's channel itself once signed in; its own events say when.
    const ready = first("#server-to-user-1 subscribed", (cb) =>
      pusher.connection.bind("message", (message: { event: string; channel?: string }) => {
        if (message.event === "pusher_internal:subscription_succeeded" && message.channel === "#server-to-user-1")
          cb(message);
      }),
    );
    echo.connector.signin();
    await ready;
    const got = first("Alert to user 1", (cb) => pusher.user.bind("Alert", cb));
    await serverSdk(port).sendToUser("1", "Alert", { text: "for Ann" });
    expect(await got).toEqual({ text: "for Ann" });
  });

  it("moves to another node when its node drains: reconnects (not a final close) and resubscribes", async () => {
    const [a, b] = await startNodes(2, { drainWindowMs: 100 });
    if (a === undefined || b === undefined) throw new Error("two nodes expected");
    // A load balancer in front of both: connections reach a, then b.
    const proxy = new SwitchProxy(a.address.url);
    proxies.push(proxy);
    const port = Number(new URL(await proxy.start()).port);
    const echo = echoClient(broadcaster, port);
    const states: string[] = [];
    echo.connector.pusher.connection.bind("state_change", (change: { current: string }) => states.push(change.current));
    const orders = echo.channel("orders");
    await first("orders subscribed on a", (cb) => orders.subscribed(cb));

    proxy.switchTo(b.address.url);
    const again = first("orders subscribed on b", (cb) => orders.subscribed(cb));
    await a.drain();
    await again;
    const got = first("'.OrderShipped' from b", (cb) => orders.listen(".OrderShipped", cb));
    await triggerEvent(b.address.port, { channel: "orders", event: "OrderShipped", data: { order: 9 } });
    expect(await got).toEqual({ order: 9 });
    // Pusher's 4200: reconnect at once; a 4000-4099 close would have left it disconnected.
    expect(states).toEqual(["connected", "connecting", "connected"]);
  });

  it("answers pusher-js's pusher:ping with pusher:pong when the connection is idle", async () => {
    const port = await startNode();
    // pusher-js pings after activityTimeout ms without a message (the lesser of its own and the server's).
    const echo = echoClient(broadcaster, port, serverSdk(port), ANN, { activityTimeout: 200 });
    const pong = first("pusher:pong", (cb) =>
      echo.connector.pusher.connection.bind("message", (message: { event: string }) => {
        if (message.event === "pusher:pong") cb(message);
      }),
    );
    await pong;
    expect(echo.connector.pusher.connection.state).toBe("connected");
  });

  it("stays connected through the node's pings: pusher-js answers pusher:ping in time", async () => {
    const [node] = await startNodes(1, { pingIntervalMs: 150, pongTimeoutMs: 100 });
    if (node === undefined) throw new Error("no node started");
    const echo = echoClient(broadcaster, node.address.port);
    const { connection } = echo.connector.pusher;
    const states: string[] = [];
    connection.bind("state_change", (change: { current: string }) => states.push(change.current));
    // Three pings, each past the previous one's pong timeout: an unanswered one would have closed the connection.
    const pings = first("three pusher:ping", (cb) => {
      let count = 0;
      connection.bind("message", (message: { event: string }) => {
        if (message.event === "pusher:ping" && ++count === 3) cb(count);
      });
    });
    await pings;
    expect(states).toEqual(["connected"]);
  });

  it("whispers to the other members of a presence channel, not back to the sender", async () => {
    const port = await startNode();
    const ann = echoClient(broadcaster, port, serverSdk(port), ANN);
    const bob = echoClient(broadcaster, port, serverSdk(port), BOB);
    const annChat = ann.join("chat.2");
    const bobChat = bob.join("chat.2");
    await first("Ann subscribed", (cb) => annChat.subscribed(cb));
    await first("Bob subscribed", (cb) => bobChat.subscribed(cb));

    const annHeard: unknown[] = [];
    annChat.listenForWhisper("typing", (data: unknown) => annHeard.push(data));
    const bobHeard = first("Bob hears Ann", (cb) => bobChat.listenForWhisper("typing", cb));
    annChat.whisper("typing", { name: "Ann" });
    expect(await bobHeard).toEqual({ name: "Ann" });

    // Bob answers after Ann's whisper went out on the channel: had Ann's come back to her, she
    // would have it before Bob's, so her first whisper is Bob's and she has no other.
    const annHearsBob = first("Ann hears Bob", (cb) => annChat.listenForWhisper("typing", cb));
    bobChat.whisper("typing", { name: "Bob" });
    expect(await annHearsBob).toEqual({ name: "Bob" });
    expect(annHeard).toEqual([{ name: "Bob" }]);
  });

  it("whispers on a private channel too", async () => {
    const port = await startNode();
    const ann = echoClient(broadcaster, port, serverSdk(port), ANN);
    const bob = echoClient(broadcaster, port, serverSdk(port), BOB);
    const annRoom = ann.private("room.1");
    const bobRoom = bob.private("room.1");
    await first("Ann subscribed", (cb) => annRoom.subscribed(cb));
    await first("Bob subscribed", (cb) => bobRoom.subscribed(cb));
    const heard = first("Bob hears Ann", (cb) => bobRoom.listenForWhisper("typing", cb));
    annRoom.whisper("typing", { typing: true });
    expect(await heard).toEqual({ typing: true });
  });
});
