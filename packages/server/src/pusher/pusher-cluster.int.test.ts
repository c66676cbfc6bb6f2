import Echo from "laravel-echo";
import PusherJsModule from "pusher-js";
import type { ChannelAuthorizationCallback, PresenceChannel } from "pusher-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NGINX, NginxProcess } from "../../../../test/support/load-balancers.js";
import { ServerProcess } from "../../../../test/support/processes.js";
import type { PusherJs } from "../../../../test/support/pusher.js";
import { TEST_APP, connected, next, pusherClient, serverSdk, subscribed } from "../../../../test/support/pusher.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { configFile } from "../../../../test/support/redis-nodes.js";
import { WorkerCluster } from "../../../../test/support/workers.js";

/**
 * Three `hubcast start --engine redis` processes serving one Pusher app, as a deployment runs
 * them: Pusher clients on different nodes share channels, presence and client events; the
 * HTTP API answers for the whole cluster from any node; a killed node's members leave.
 */
describe("Pusher apps on three nodes sharing Redis", () => {
  let redis: RedisServer;
  let nodes: ServerProcess[];
  const clients: PusherJs[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    // Short presence and node lifetimes, so a killed node's members expire within the test.
    const config = configFile({ demo: false, presenceTtlMs: 1_500, nodeTtlMs: 1_500, pusherApps: [TEST_APP] });
    const args = ["--engine", "redis", "--redis-url", redis.url, "--redis-prefix", "pusher-cluster", "--port", "0"];
    nodes = await Promise.all([1, 2, 3].map(() => ServerProcess.start([...args, "--config", config])));
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(nodes.map((node) => node.stop("SIGKILL")));
    await redis.stop();
  });

  const node = (i: number): ServerProcess => {
    const n = nodes[i];
    if (n === undefined) throw new Error(`no node ${i}`);
    return n;
  };

  async function clientOn(i: number, user: string): Promise<PusherJs> {
    const client = pusherClient(node(i).port, serverSdk(node(i).port), { id: user, info: { name: user } });
    clients.push(client);
    await connected(client);
    return client;
  }

  it("delivers an API event published on one node to subscribers on every node, skipping socket_id", async () => {
    const [a, b, c] = await Promise.all([clientOn(0, "a"), clientOn(1, "b"), clientOn(2, "c")]);
    const channels = await Promise.all([a, b, c].map(async (client) => (await subscribed(client, "ticker")).channel));
    const got = channels.map((channel) => next(channel, "price"));
    await serverSdk(node(2).port).trigger("ticker", "price", { v: 1 });
    expect(await Promise.all(got)).toEqual([{ v: 1 }, { v: 1 }, { v: 1 }]);
    const [onA, onB] = channels as [NonNullable<(typeof channels)[0]>, NonNullable<(typeof channels)[0]>];
    const bGets = next(onB, "price");
    const aGets = next(onA, "price");
    await serverSdk(node(1).port).trigger("ticker", "price", { v: 2 }, { socket_id: a.connection.socket_id });
    await serverSdk(node(1).port).trigger("ticker", "price", { v: 3 });
    expect(await bGets).toEqual({ v: 2 });
    expect(await aGets).toEqual({ v: 3 });
  });

  it.skipIf(NGINX === undefined)(
    "works behind the shipped nginx config with only the host settings changed (skipped unless nginx is installed)",
    async () => {
      const lb = await NginxProcess.start(
        "hubcast.conf",
        [0, 1, 2].map((i) => `127.0.0.1:${node(i).port}`),
      );
      try {
        const port = Number(new URL(lb.url).port);
        const sdk = serverSdk(port);
        const viaLb = [0, 1, 2, 3, 4, 5].map((i) => pusherClient(port, sdk, { id: `lb-${i}` }));
        clients.push(...viaLb);
        await Promise.all(viaLb.map((client) => connected(client)));
        const channels = await Promise.all(
          viaLb.map(async (client) => (await subscribed(client, "private-lb")).channel),
        );
        const got = channels.map((channel) => next(channel, "hello"));
        await sdk.trigger("private-lb", "hello", { through: "nginx" });
        expect(await Promise.all(got)).toEqual(viaLb.map(() => ({ through: "nginx" })));
      } finally {
        await lb.stop();
      }
    },
  );

  it("keeps presence members right across nodes, answers the API for the cluster, and relays client events", async () => {
    const alice = await clientOn(0, "alice");
    const { channel } = await subscribed(alice, "presence-lobby");
    const room = channel as PresenceChannel;
    const bobAdded = next<{ id: string }>(room, "pusher:member_added");
    const bob = await clientOn(1, "bob");
    const { channel: bobRoom } = await subscribed(bob, "presence-lobby");
    expect((await bobAdded).id).toBe("bob");
    const carol = await clientOn(2, "carol");
    const { channel: carolRoom } = await subscribed(carol, "presence-lobby");
    expect(Object.keys((carolRoom as PresenceChannel).members.members).sort()).toEqual(["alice", "bob", "carol"]);

    // Any node answers for the whole cluster.
    const sdk = serverSdk(node(2).port);
    const users = await (await sdk.get({ path: "/channels/presence-lobby/users" })).json();
    expect(users.users.map((u: { id: string }) => u.id).sort()).toEqual(["alice", "bob", "carol"]);
    const listed = await (
      await sdk.get({ path: "/channels", params: { filter_by_prefix: "presence-", info: "user_count" } })
    ).json();
    expect(listed.channels["presence-lobby"]).toEqual({ user_count: 3 });
    const one = await (
      await sdk.get({ path: "/channels/presence-lobby", params: { info: "user_count,subscription_count" } })
    ).json();
    expect(one).toEqual({ occupied: true, user_count: 3, subscription_count: 3 });

    const whisper = next(room, "client-wave");
    bobRoom.trigger("client-wave", { from: "bob" });
    expect(await whisper).toEqual({ from: "bob" });

    // Bob's node dies without a word: his entry expires and the others are told he left.
    const bobRemoved = next<{ id: string }>(room, "pusher:member_removed", 10_000);
    await node(1).stop("SIGKILL");
    expect((await bobRemoved).id).toBe("bob");
    bob.disconnect(); // it was retrying the dead node
    expect(Object.keys(room.members.members).sort()).toEqual(["alice", "carol"]);
  });

  it("Laravel Echo on two nodes: here, joining and leaving across nodes, whispers, and server events", async () => {
    const echoOn = (i: number, user: { id: number; name: string }): Echo<"reverb"> => {
      const signer = serverSdk(node(i).port);
      return new Echo({
        broadcaster: "reverb",
        Pusher: PusherJsModule,
        key: TEST_APP.key,
        wsHost: "127.0.0.1",
        wsPort: node(i).port,
        forceTLS: false,
        enabledTransports: ["ws"],
        channelAuthorization: {
          endpoint: "/broadcasting/auth",
          transport: "ajax",
          customHandler: (request: { socketId: string; channelName: string }, callback: ChannelAuthorizationCallback) =>
            callback(
              null,
              signer.authorizeChannel(request.socketId, request.channelName, {
                user_id: String(user.id),
                user_info: user,
              }),
            ),
        },
      });
    };
    const ann = echoOn(0, { id: 1, name: "Ann" });
    const bob = echoOn(2, { id: 2, name: "Bob" });
    try {
      const annHere = new Promise<unknown[]>((resolve) => ann.join("room.1").here(resolve));
      expect(await annHere).toEqual([{ id: 1, name: "Ann" }]);
      const joined = new Promise((resolve) => ann.join("room.1").joining(resolve));
      const bobHere = new Promise<unknown[]>((resolve) => bob.join("room.1").here(resolve));
      expect(await joined).toEqual({ id: 2, name: "Bob" });
      expect(await bobHere).toHaveLength(2);
      const whisper = new Promise((resolve) => ann.join("room.1").listenForWhisper("typing", resolve));
      bob.join("room.1").whisper("typing", { name: "Bob" });
      expect(await whisper).toEqual({ name: "Bob" });
      const shipped = new Promise((resolve) => bob.join("room.1").listen(".Shipped", resolve));
      await serverSdk(node(0).port).trigger("presence-room.1", "Shipped", { order: 5 });
      expect(await shipped).toEqual({ order: 5 });
      const left = new Promise((resolve) => ann.join("room.1").leaving(resolve));
      bob.leave("room.1");
      expect(await left).toEqual({ id: 2, name: "Bob" });
    } finally {
      ann.disconnect();
      bob.disconnect();
    }
  });

  it("serves cache channels, encrypted channels, sign-in, sendToUser and terminate_connections across nodes", async () => {
    const masterKey = Buffer.alloc(32, 9).toString("base64");
    const sdkOn = (i: number) => serverSdk(node(i).port, TEST_APP, { encryptionMasterKeyBase64: masterKey });
    // The last event of a cache channel, published through node 2, greets a subscriber on node 0.
    await sdkOn(2).trigger("cache-rates", "rate", { eur: 1.1 });
    const early = await clientOn(0, "early");
    expect(await next(early.subscribe("cache-rates"), "rate")).toEqual({ eur: 1.1 });

    // End-to-end encrypted, published on node 2 for a reader on node 0 (its authorization signed with the same master key).
    const reader = pusherClient(node(0).port, sdkOn(0), { id: "reader" });
    clients.push(reader);
    await connected(reader);
    const { channel: vault } = await subscribed(reader, "private-encrypted-vault");
    const secret = next(vault, "code");
    await sdkOn(2).trigger("private-encrypted-vault", "code", { pin: "2468" });
    expect(await secret).toEqual({ pin: "2468" });

    // Signed in on node 0; an event for the user sent through node 2; the user ended through node 2.
    const ann = await clientOn(0, "ann");
    ann.signin();
    await expect.poll(() => ann.user.user_data?.id).toBe("ann");
    const note = new Promise((resolve) => ann.user.bind("note", resolve));
    const sending = setInterval(
      () =>
        void sdkOn(2)
          .sendToUser("ann", "note", { hi: 2 })
          .catch(() => undefined),
      100,
    );
    try {
      expect(await note).toEqual({ hi: 2 });
    } finally {
      clearInterval(sending);
    }
    const ended = new Promise<unknown>((resolve) => ann.connection.bind("error", resolve));
    await sdkOn(2).terminateUserConnections("ann");
    expect(await ended).toMatchObject({ data: { code: 4009 } });
  });
});

describe("a Pusher app in cluster mode (two workers on one port)", () => {
  let workers: WorkerCluster;
  const clients: PusherJs[] = [];

  beforeAll(async () => {
    const config = configFile({ demo: false, pusherApps: [TEST_APP] });
    workers = await WorkerCluster.start(["--config", config]);
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await workers.stop();
  });

  it("shares presence, client events and API events across workers, and answers the API for all of them", async () => {
    const port = Number(new URL(workers.url).port);
    const sdk = serverSdk(port);
    const users = ["w1", "w2", "w3", "w4"];
    // Round-robin over two workers: four clients land on both.
    const all = users.map((id) => pusherClient(port, sdk, { id }));
    clients.push(...all);
    await Promise.all(all.map((client) => connected(client)));
    const rooms: PresenceChannel[] = [];
    for (const client of all) rooms.push((await subscribed(client, "presence-workers")).channel as PresenceChannel);
    await expect.poll(() => rooms.map((room) => room.members.count)).toEqual([4, 4, 4, 4]);

    const [first, ...others] = rooms as [PresenceChannel, ...PresenceChannel[]];
    const whispers = others.map((room) => next(room, "client-hi"));
    first.trigger("client-hi", { from: "w1" });
    expect(await Promise.all(whispers)).toEqual(others.map(() => ({ from: "w1" })));

    const events = rooms.map((room) => next(room, "news"));
    await sdk.trigger("presence-workers", "news", { n: 1 });
    expect(await Promise.all(events)).toEqual(rooms.map(() => ({ n: 1 })));
    const listed = await (await sdk.get({ path: "/channels/presence-workers/users" })).json();
    expect(listed.users.map((u: { id: string }) => u.id).sort()).toEqual(users);
  });
});
