import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN_NAMESPACES,
  ADMIN_PASSWORD as PASSWORD,
  byToken,
  call,
  errorCode,
  login,
  post,
  readEvents,
} from "../../../../test/support/admin-client.js";
import { TestCluster } from "../../../../test/support/nodes.js";
import { RawClient, withTimeout } from "../../../../test/support/raw-client.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { createNode } from "../node.js";
import type { HubcastNode } from "../node.js";
import { ADMIN_CSP } from "./http.js";
import type { AdminNode } from "./questions.js";

// The admin UI's views against real clients: channels, a channel, publish, users, disconnect,
// the live stream, and two nodes on a Redis server.

describe("admin UI data on one node", () => {
  const cluster = new TestCluster();
  const aborts: AbortController[] = [];
  afterEach(async () => {
    for (const abort of aborts.splice(0)) abort.abort();
    await cluster.cleanup();
  });

  async function adminNode(): Promise<{ base: string; wsUrl: string; node: HubcastNode }> {
    const { node, wsUrl } = await cluster.node({ adminPassword: PASSWORD, namespaces: ADMIN_NAMESPACES }, byToken);
    return { base: node.address.url, wsUrl, node };
  }

  async function userClient(wsUrl: string, user: string): Promise<RawClient> {
    const client = await cluster.client(wsUrl, false);
    await client.ok("connect", { token: user });
    return client;
  }

  it("lists channels and users, shows a channel, publishes to it and disconnects a user (3501)", async () => {
    const { base, wsUrl } = await adminNode();
    const cookie = await login(base);
    const alice = await userClient(wsUrl, "alice");
    const alice2 = await userClient(wsUrl, "alice");
    const bob = await userClient(wsUrl, "bob");
    const anonymous = await userClient(wsUrl, "");
    for (const client of [alice, bob]) await client.ok("subscribe", { channel: "chat:room" });
    await alice2.ok("subscribe", { channel: "plain:quiet" });
    await anonymous.ok("subscribe", { channel: "plain:quiet" });
    await bob.ok("publish", { channel: "chat:room", data: { text: "first" } });

    const channels = await call(base, "/admin/api/channels", { cookie });
    expect(channels.body).toEqual({
      channels: [
        { name: "chat:room", subscribers: 2, publicationsPerSecond: expect.any(Number) as number },
        { name: "plain:quiet", subscribers: 2, publicationsPerSecond: expect.any(Number) as number },
      ],
      total: 2,
    });
    const chatOnly = await call(base, "/admin/api/channels?prefix=chat:&sort=rate&limit=1", { cookie });
    expect((chatOnly.body as { channels: { name: string }[] }).channels.map((c) => c.name)).toEqual(["chat:room"]);
    expect((await call(base, "/admin/api/channels?limit=1", { cookie })).body).toMatchObject({ total: 2 });

    const published = await post(
      base,
      "/admin/api/publish",
      { channel: "chat:room", data: { text: "from admin" } },
      cookie,
    );
    expect(published.status).toBe(200);
    expect(published.body).toEqual({ position: { offset: 2, epoch: expect.any(String) as string } });
    const [, fromAdmin] = await alice.waitForPushes<{ data: unknown }>("publication", 2, "chat:room");
    expect(fromAdmin?.data).toEqual({ text: "from admin" });
    expect((await post(base, "/admin/api/publish", { channel: "plain:quiet", data: [1] }, cookie)).body).toEqual({});

    const room = (await call(base, "/admin/api/channel?name=chat:room", { cookie })).body as Record<string, unknown>;
    expect(room["name"]).toBe("chat:room");
    expect(room["subscribers"]).toBe(2);
    expect((room["presence"] as { user: string }[]).map((c) => c.user).sort()).toEqual(["alice", "bob"]);
    expect(room["presenceTotal"]).toBe(2);
    const history = room["history"] as { offset: number; epoch: string; data: unknown }[];
    expect(history.map((p) => [p.offset, p.data])).toEqual([
      [2, { text: "from admin" }],
      [1, { text: "first" }],
    ]);
    expect(room["position"]).toEqual({ offset: 2, epoch: history[0]?.epoch });
    expect((await call(base, "/admin/api/channel?name=plain:quiet", { cookie })).body).toEqual({
      name: "plain:quiet",
      subscribers: 2,
      presence: null,
      history: [],
      position: null,
    });

    expect((await call(base, "/admin/api/users", { cookie })).body).toEqual({
      users: [
        { user: "alice", connections: 2 },
        { user: "", connections: 1 },
        { user: "bob", connections: 1 },
      ],
    });
    expect((await call(base, "/admin/api/users?prefix=b&limit=5", { cookie })).body).toEqual({
      users: [{ user: "bob", connections: 1 }],
    });

    expect((await post(base, "/admin/api/disconnect", { user: "alice" }, cookie)).body).toEqual({ disconnected: true });
    for (const client of [alice, alice2])
      expect((await withTimeout(client.closed, 5_000, "alice's connections to close")).code).toBe(3501);
    expect(await bob.ok("subscribe", { channel: "plain:still-here" })).toBeDefined();
  });

  it("returns hostile channel names and payloads as JSON data, never as markup", async () => {
    const { base, wsUrl } = await adminNode();
    const cookie = await login(base);
    const hostile = "chat:<img/src=x/onerror=alert(1)></script>";
    const data = {
      html: "</script><script>alert(1)</script>",
      line: "\u2028\u2029",
      ["__proto__"]: { polluted: true },
    };
    const client = await userClient(wsUrl, "<b>mallory</b>");
    await client.ok("subscribe", { channel: hostile });
    const raw = JSON.stringify({ channel: hostile, data });
    const published = await call(base, "/admin/api/publish", { method: "POST", raw, cookie });
    expect(published.status).toBe(200);
    await client.waitForPushes("publication", 1, hostile);

    for (const path of [
      "/admin/api/channels",
      `/admin/api/channel?name=${encodeURIComponent(hostile)}`,
      "/admin/api/users",
      `/admin/api/channel?name=${encodeURIComponent("nowhere<script>:x")}`,
    ]) {
      const answer = await call(base, path, { cookie });
      expect(answer.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(answer.text).not.toMatch(/[<>]/);
    }
    const channels = (await call(base, "/admin/api/channels", { cookie })).body as { channels: { name: string }[] };
    expect(channels.channels[0]?.name).toBe(hostile);
    const channel = (await call(base, `/admin/api/channel?name=${encodeURIComponent(hostile)}`, { cookie })).body as {
      history: { data: unknown }[];
    };
    expect(channel.history[0]?.data).toEqual(JSON.parse(JSON.stringify(data)));
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
    const users = (await call(base, "/admin/api/users", { cookie })).body;
    expect(users).toEqual({ users: [{ user: "<b>mallory</b>", connections: 1 }] });
  });

  it("pushes a cluster event about once a second on the live stream", async () => {
    const { base, node } = await adminNode();
    const cookie = await login(base);
    expect((await call(base, "/admin/api/live")).status).toBe(401);
    const abort = new AbortController();
    aborts.push(abort);
    const res = await fetch(`${base}/admin/api/live`, { headers: { Cookie: cookie }, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toBe(ADMIN_CSP);
    if (res.body === null) throw new Error("no body");
    const events = await withTimeout(readEvents(res.body, 2), 5_000, "two live events");
    for (const { event, data } of events) {
      expect(event).toBe("cluster");
      const { nodes, at } = JSON.parse(data) as { nodes: AdminNode[]; at: number };
      expect(Math.abs(at - Date.now())).toBeLessThan(5_000);
      expect(nodes).toHaveLength(1);
      expect(nodes[0]).toMatchObject({ id: node.id, self: true, ready: true, address: base });
    }
    const gap = (events[1]?.at ?? 0) - (events[0]?.at ?? 0);
    expect(gap).toBeGreaterThan(500);
    expect(gap).toBeLessThan(2_500);
  });

  it("refuses a 33rd live stream on a node with 503", async () => {
    const { base } = await adminNode();
    const cookie = await login(base);
    const open = async (): Promise<number> => {
      const abort = new AbortController();
      aborts.push(abort);
      return (await fetch(`${base}/admin/api/live`, { headers: { Cookie: cookie }, signal: abort.signal })).status;
    };
    const statuses = await Promise.all(Array.from({ length: 32 }, open));
    expect(statuses.every((s) => s === 200)).toBe(true);
    const refused = await call(base, "/admin/api/live", { cookie });
    expect(refused.status).toBe(503);
    expect(errorCode(refused)).toBe("unavailable");
    expect(refused.headers.get("retry-after")).toBe("5");
  });
});

describe("admin UI across a Redis cluster", () => {
  let redis: RedisServer;
  const nodes: HubcastNode[] = [];
  const clients: RawClient[] = [];
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.stop());
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(nodes.splice(0).map((n) => n.close()));
  });

  async function redisNode(redisPrefix: string): Promise<{ base: string; wsUrl: string; node: HubcastNode }> {
    const node = await createNode(
      {
        engine: "redis",
        redisUrl: redis.url,
        redisPrefix,
        port: 0,
        logLevel: "silent",
        demo: false,
        adminPassword: PASSWORD,
        namespaces: ADMIN_NAMESPACES,
        nodeTtlMs: 3_000,
      },
      byToken,
    );
    nodes.push(node);
    const { url } = await node.start();
    return { base: url, wsUrl: `${url.replace(/^http/, "ws")}/ws`, node };
  }

  it("accepts node A's cookie on node B, lists both nodes with history, and acts across nodes", async () => {
    const prefix = `t-${randomUUID()}`;
    const a = await redisNode(prefix);
    const b = await redisNode(prefix);
    const cookie = await login(a.base);
    expect((await call(b.base, "/admin/api/session", { cookie })).status).toBe(200);

    const alice = await RawClient.open(a.wsUrl);
    clients.push(alice);
    await alice.ok("connect", { token: "alice" });
    await alice.ok("subscribe", { channel: "chat:shared" });

    const view = (await call(b.base, "/admin/api/cluster", { cookie })).body as {
      nodes: AdminNode[];
      history: Record<string, number[][]>;
    };
    expect(view.nodes.map((n) => n.id).sort()).toEqual([a.node.id, b.node.id].sort());
    expect(view.nodes[0]).toMatchObject({ id: b.node.id, self: true, address: b.base });
    const onA = view.nodes.find((n) => n.id === a.node.id);
    expect(onA).toMatchObject({
      self: false,
      ready: true,
      address: a.base,
      connections: 1,
      subscriptions: 1,
      channels: 1,
    });
    for (const node of view.nodes) {
      expect(node.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(node.uptimeMs).toBeGreaterThanOrEqual(0);
      expect(node.uptimeMs).toBeLessThan(60_000);
      expect(node.rssBytes).toBeGreaterThan(1_000_000);
      expect(node.eventLoopLagMs).toBeGreaterThanOrEqual(0);
      const samples = view.history[node.id] ?? [];
      expect(samples.length).toBeGreaterThanOrEqual(1);
      expect(samples.length).toBeLessThanOrEqual(900);
      for (const sample of samples) {
        expect(sample).toHaveLength(6);
        expect(Math.abs((sample[0] ?? 0) - Date.now())).toBeLessThan(60_000);
        expect(sample[4]).toBeGreaterThan(1_000_000);
      }
    }

    const channels = await call(b.base, "/admin/api/channels", { cookie });
    expect((channels.body as { channels: unknown[] }).channels).toEqual([
      { name: "chat:shared", subscribers: 1, publicationsPerSecond: expect.any(Number) as number },
    ]);
    expect((await call(b.base, "/admin/api/users", { cookie })).body).toEqual({
      users: [{ user: "alice", connections: 1 }],
    });
    expect((await post(b.base, "/admin/api/publish", { channel: "chat:shared", data: "via b" }, cookie)).status).toBe(
      200,
    );
    expect((await alice.waitForPushes<{ data: unknown }>("publication", 1, "chat:shared"))[0]?.data).toBe("via b");
    const shared = (await call(b.base, "/admin/api/channel?name=chat:shared", { cookie })).body;
    expect(shared).toMatchObject({ subscribers: 1, presence: [{ user: "alice" }], history: [{ data: "via b" }] });

    expect((await post(b.base, "/admin/api/disconnect", { user: "alice" }, cookie)).status).toBe(200);
    expect((await withTimeout(alice.closed, 5_000, "alice's connection on node A to close")).code).toBe(3501);
  });
});
