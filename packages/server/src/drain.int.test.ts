import { Client } from "@hubcast/client";
import { CloseCode } from "@hubcast/protocol";
import { WebSocket } from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Balancer } from "../../../test/support/balancer.js";
import { TestCluster } from "../../../test/support/nodes.js";
import type { ServerProcess } from "../../../test/support/processes.js";
import { RawClient } from "../../../test/support/raw-client.js";
import { RedisServer } from "../../../test/support/redis.js";
import { startRedisNodes } from "../../../test/support/redis-nodes.js";
import { eventually } from "../../../test/support/eventually.js";

const cluster = new TestCluster();
let redis: RedisServer;
const servers: ServerProcess[] = [];
const clients: Client[] = [];
const raw: RawClient[] = [];
let balancer: Balancer | undefined;

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all(raw.splice(0).map((c) => c.close()));
  await balancer?.close();
  balancer = undefined;
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
  await cluster.cleanup();
});

describe("graceful drain", () => {
  it("reports not ready, refuses new connections, and spreads reconnect advice over the window", async () => {
    const { node, wsUrl } = await cluster.node({ drainWindowMs: 1_000 });
    const connected = await Promise.all(Array.from({ length: 40 }, () => cluster.client(wsUrl)));
    const closedAt: number[] = [];
    for (const c of connected) void c.closed.then(() => closedAt.push(Date.now()));
    const startedAt = Date.now();
    const drained = node.drain();
    expect((await fetch(`${node.address.url}/readyz`)).status).toBe(503);
    await expect(RawClient.open(wsUrl)).rejects.toThrow(/503/);
    await drained;
    expect(Date.now() - startedAt).toBeLessThan(1_000 + 2_500);
    for (const c of connected) {
      expect(c.pushes("disconnect")).toEqual([{ code: CloseCode.shutdown, reason: "shutdown", reconnect: true }]);
      expect((await c.closed).code).toBe(CloseCode.shutdown);
    }
    // Spread over the window, not all at once.
    expect(Math.max(...closedAt) - Math.min(...closedAt)).toBeGreaterThan(400);
  });

  it("SIGTERM with 1,000 clients: all are told to reconnect, the node exits 0 within the window, and all recover on the other node", {
    timeout: 90_000,
  }, async () => {
    const windowMs = 3_000;
    const args = ["--drain-window-ms", String(windowMs)];
    const {
      nodes: [a],
      prefix,
    } = await startRedisNodes(redis.url, 1, args);
    servers.push(a as ServerProcess);
    balancer = new Balancer();
    const url = await balancer.start();
    await balancer.add((a as ServerProcess).url);

    const received: number[][] = [];
    const shutdownAdvice = new Set<Client>();
    for (let i = 0; i < 1_000; i++) {
      const client = new Client(url, {
        websocket: WebSocket,
        minReconnectDelayMs: 100,
        maxReconnectDelayMs: 1_000,
        timeoutMs: 15_000,
      });
      client.on("error", () => undefined); // reconnect attempts during the handover may fail; outcomes are asserted below
      client.on("disconnected", ({ code }) => {
        if (code === CloseCode.shutdown) shutdownAdvice.add(client);
      });
      clients.push(client);
      const seen: number[] = [];
      received.push(seen);
      const sub = client.newSubscription("chat:drain");
      sub.on("publication", (p) => seen.push(p.data as number));
      sub.subscribe();
      client.connect();
    }
    await Promise.all(clients.map((c) => c.getSubscription("chat:drain")?.ready(30_000)));

    const {
      nodes: [b],
    } = await startRedisNodes(redis.url, 1, [...args, "--redis-prefix", prefix]);
    servers.push(b as ServerProcess);
    await balancer.add((b as ServerProcess).url);
    const publisher = await RawClient.connected((b as ServerProcess).wsUrl);
    raw.push(publisher);
    let published = 0;
    const publishing = (async () => {
      while (published < 100) {
        await publisher.ok("publish", { channel: "chat:drain", data: ++published });
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    })();

    await eventually(() => published >= 10, 10_000, "publishing to start");
    const startedAt = Date.now();
    const exitCode = await (a as ServerProcess).stop("SIGTERM");
    const elapsed = Date.now() - startedAt;
    expect(exitCode).toBe(0);
    expect(elapsed).toBeLessThan(windowMs + 2_500);
    expect(shutdownAdvice.size).toBe(1_000);

    await publishing;
    await eventually(
      () => clients.every((c) => c.state === "connected" && c.getSubscription("chat:drain")?.state === "subscribed"),
      30_000,
      "every client back",
    );
    await eventually(
      () => received.every((seen) => seen.at(-1) === 100),
      30_000,
      "every client to receive publication 100",
    );
    const expected = Array.from({ length: 100 }, (_, i) => i + 1);
    for (const seen of received) expect(seen).toEqual(expected);
  });
});
