import { randomUUID } from "node:crypto";
import { Client } from "@hubcast/client";
import { WebSocket } from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../../../test/support/eventually.js";
import { BlackholeProxy } from "../../../test/support/blackhole-proxy.js";
import { ServerProcess } from "../../../test/support/processes.js";
import { RawClient } from "../../../test/support/raw-client.js";
import { RedisServer } from "../../../test/support/redis.js";
import { CLUSTER_NAMESPACES, configFile } from "../../../test/support/redis-nodes.js";

const KEY = "test-key-0123456789abcdef";
const PUBLISH_TIMEOUT_MS = 1_500;

let redis: RedisServer;
const servers: ServerProcess[] = [];
const proxies: BlackholeProxy[] = [];
const raw: RawClient[] = [];
const sdk: Client[] = [];
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());
afterEach(async () => {
  for (const client of sdk.splice(0)) client.disconnect();
  await Promise.all(raw.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

/** Two nodes on one Redis under a fresh prefix: `a` reaches Redis through a proxy that can blackhole its link, `b` directly. */
async function twoNodes(): Promise<{ a: ServerProcess; b: ServerProcess; link: BlackholeProxy }> {
  const link = new BlackholeProxy({ host: "127.0.0.1", port: redis.port });
  proxies.push(link);
  const linkUrl = await link.start();
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const config = configFile({ namespaces: CLUSTER_NAMESPACES, demo: false });
  const args = (url: string): string[] => [
    ...["--engine", "redis", "--redis-url", url, "--redis-prefix", prefix, "--port", "0", "--config", config],
    ...["--api-key", KEY, "--publish-timeout-ms", String(PUBLISH_TIMEOUT_MS)],
  ];
  const [a, b] = await Promise.all([ServerProcess.start(args(linkUrl)), ServerProcess.start(args(redis.url))]);
  servers.push(a, b);
  return { a, b, link };
}

async function subscriber(node: ServerProcess, channel: string): Promise<RawClient> {
  const client = await RawClient.connected(node.wsUrl);
  raw.push(client);
  await client.ok("subscribe", { channel });
  return client;
}

/** `POST path` on `node`'s server API; resolves with the status and the parsed body. */
async function api(
  node: ServerProcess,
  path: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${node.url}${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * Publishes a marker through `node` with a key (so retries while the link recovers cannot
 * duplicate it) and waits until `sub` has it. Redis runs one connection's commands in order
 * and publishes in that order, so once the marker is delivered every command the node sent
 * before it has run or been refused.
 */
async function marker(node: ServerProcess, channel: string, sub: RawClient, expectedCount: number): Promise<unknown[]> {
  const idempotencyKey = `marker-${randomUUID()}`;
  await eventually(
    async () => (await api(node, "/api/publish", { channel, data: "marker", idempotencyKey })).status === 200,
    15_000,
    "the marker to be published",
  );
  const pushes = await sub.waitForPushes<{ data: unknown }>("publication", expectedCount, channel, 10_000);
  expect(pushes.at(-1)?.data).toBe("marker");
  return pushes.map((p) => p.data);
}

const failureLines = (node: ServerProcess): Record<string, unknown>[] =>
  node.logs.filter((l) => l["msg"] === "publishes are failing");

describe("publishes on a blackholed Redis link", () => {
  it("answer 503 outcome_unknown within the publish timeout, and are never made after the link heals", {
    timeout: 40_000,
  }, async () => {
    const { a, b, link } = await twoNodes();
    const sub = await subscriber(b, "chat:lost");
    link.blackhole();
    const startedAt = Date.now();
    const answer = await api(a, "/api/publish", { channel: "chat:lost", data: "lost" });
    const elapsedMs = Date.now() - startedAt;
    expect(answer).toMatchObject({ status: 503, body: { error: { code: "outcome_unknown" } } });
    expect(elapsedMs).toBeGreaterThanOrEqual(PUBLISH_TIMEOUT_MS - 100);
    expect(elapsedMs).toBeLessThan(PUBLISH_TIMEOUT_MS + 1_000);

    link.heal(); // the command reaches Redis now, past its deadline
    expect(await marker(a, "chat:lost", sub, 1)).toEqual(["marker"]);
    const history = await sub.ok<{ publications: { data: unknown }[] }>("history", { channel: "chat:lost", limit: 10 });
    expect(history.publications.map((p) => p.data)).toEqual(["marker"]);
  });

  it("answer 114 outcome_unknown (temporary) to a client, and log one line for many failures, counting each", {
    timeout: 40_000,
  }, async () => {
    const { a, b, link } = await twoNodes();
    const sub = await subscriber(b, "plain:lost");
    const publisher = await RawClient.connected(a.wsUrl);
    raw.push(publisher);
    link.blackhole();
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        publisher.command("publish", { channel: "plain:lost", data: i, idempotencyKey: `k${i}` }, 10_000),
      ),
    );
    for (const reply of replies) expect(reply["error"]).toMatchObject({ code: 114, temporary: true });
    // Ten failures in one interval: one warn line, and no line per request.
    expect(failureLines(a)).toHaveLength(1);
    expect(failureLines(a)[0]).toMatchObject({ kind: "outcome_unknown", source: "client", count: 1 });
    expect(a.logs.filter((l) => String(l["msg"]).startsWith("publish failed"))).toEqual([]);
    // The metric counts every one.
    expect(await (await fetch(`${a.url}/metrics`)).text()).toContain(
      'hubcast_publish_failures_total{kind="outcome_unknown"} 10',
    );

    link.heal();
    expect(await marker(a, "plain:lost", sub, 1)).toEqual(["marker"]);
  });

  it("retried through another node with the same key, are delivered once", { timeout: 40_000 }, async () => {
    const { a, b, link } = await twoNodes();
    const sub = await subscriber(b, "chat:retry");
    link.blackhole();
    const request = { channel: "chat:retry", data: "once", idempotencyKey: "order-42" };
    expect(await api(a, "/api/publish", request)).toMatchObject({
      status: 503,
      body: { error: { code: "outcome_unknown" } },
    });
    const retried = await api(b, "/api/publish", request);
    expect(retried).toMatchObject({ status: 200, body: { position: { offset: 1 } } });

    link.heal();
    expect(await marker(a, "chat:retry", sub, 2)).toEqual(["once", "marker"]);
    // The key is remembered: a late retry through the healed node answers the same position.
    expect(await api(a, "/api/publish", request)).toEqual({ status: 200, body: retried.body });
  });
});

describe("a publish that sat in a frozen node", () => {
  it("runs when the node resumes, but after a retry with the same key elsewhere it is a no-op answering the same position", {
    timeout: 40_000,
  }, async () => {
    const { a, b } = await twoNodes();
    const sub = await subscriber(b, "chat:frozen");
    const request = { channel: "chat:frozen", data: "once", idempotencyKey: "frozen-1" };
    a.child.kill("SIGSTOP");
    let late: Promise<{ status: number; body: Record<string, unknown> }>;
    try {
      // Read by the node only when it resumes: its deadline starts then, so only the key can help.
      late = api(a, "/api/publish", request);
      late.catch(() => undefined); // awaited below; a rejection must not go unhandled meanwhile
      const retried = await api(b, "/api/publish", request);
      expect(retried).toMatchObject({ status: 200, body: { position: { offset: 1 } } });
    } finally {
      a.child.kill("SIGCONT");
    }
    const resumed = await late;
    expect(resumed).toMatchObject({ status: 200, body: { position: { offset: 1 } } });
    expect(await marker(a, "chat:frozen", sub, 2)).toEqual(["once", "marker"]);
  });
});

describe("publishes retried with the same key through two nodes", () => {
  it("via the HTTP API (publish and broadcast): one delivery, the same position in both answers", {
    timeout: 30_000,
  }, async () => {
    const { a, b } = await twoNodes();
    const sub = await subscriber(b, "chat:api");
    const request = { channel: "chat:api", data: "x", idempotencyKey: "api-1" };
    const first = await api(a, "/api/publish", request);
    const second = await api(b, "/api/publish", request);
    expect(first.status).toBe(200);
    expect(second).toEqual(first);
    const broadcast = { channels: ["chat:api", "chat:other"], data: "y", idempotencyKey: "api-2" };
    const once = await api(a, "/api/broadcast", broadcast);
    expect(await api(b, "/api/broadcast", broadcast)).toEqual(once);
    expect(await marker(b, "chat:api", sub, 3)).toEqual(["x", "y", "marker"]);
  });

  it("via the client protocol: one delivery, the same position in both replies", { timeout: 30_000 }, async () => {
    const { a, b } = await twoNodes();
    const sub = await subscriber(b, "chat:proto");
    const [onA, onB] = await Promise.all([RawClient.connected(a.wsUrl), RawClient.connected(b.wsUrl)]);
    raw.push(onA, onB);
    const request = { channel: "chat:proto", data: "x", idempotencyKey: "proto-1" };
    const first = await onA.ok("publish", request);
    expect(await onB.ok("publish", request)).toEqual(first);
    expect(await marker(a, "chat:proto", sub, 2)).toEqual(["x", "marker"]);
  });

  it("via the SDK: one delivery, the same position in both results", { timeout: 30_000 }, async () => {
    const { a, b } = await twoNodes();
    const sub = await subscriber(b, "chat:sdk");
    const clients = [a, b].map((node) => {
      const client = new Client(node.wsUrl, { websocket: WebSocket });
      sdk.push(client);
      client.connect();
      return client;
    });
    const [onA, onB] = clients as [Client, Client];
    await Promise.all(clients.map((c) => c.ready()));
    const first = await onA.publish("chat:sdk", "x", { idempotencyKey: "sdk-1" });
    expect(first.position?.offset).toBe(1);
    expect(await onB.newSubscription("chat:sdk").publish("x", { idempotencyKey: "sdk-1" })).toEqual(first);
    expect(await marker(a, "chat:sdk", sub, 2)).toEqual(["x", "marker"]);
  });
});
