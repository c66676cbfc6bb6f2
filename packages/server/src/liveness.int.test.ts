import { randomUUID } from "node:crypto";
import { Client } from "@hubcast/client";
import type { PublicationPush } from "@hubcast/client";
import { WebSocket } from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../../../test/support/eventually.js";
import { LinkProxy } from "../../../test/support/link-proxy.js";
import { HAPROXY, HaproxyProcess } from "../../../test/support/load-balancers.js";
import { ServerProcess } from "../../../test/support/processes.js";
import { RawClient } from "../../../test/support/raw-client.js";
import { RedisServer } from "../../../test/support/redis.js";
import { CLUSTER_NAMESPACES, configFile } from "../../../test/support/redis-nodes.js";
import { sample, scrapeFresh } from "../../../test/support/scrape.js";
import { UNREADY_REASON } from "./self-drain.js";

/** From a fault the node can see to delivery resumed on every client. */
const LINK_FAULT_BOUND_MS = 5_000;
/** Small heartbeat settings for the frozen-node test, so it runs in seconds. */
const PING_MS = 1_000;
const PONG_MS = 500;
const CHANNEL = "chat:live";
const CLIENTS = 6;

/** The shipped HAProxy config with health checks four times as fast, so a test waits on Hubcast, not on the balancer. */
function fastChecks(text: string): string {
  const tweaked = text
    .replace("default-server inter 1s fall 2 rise 2", "default-server inter 250ms fall 2 rise 2")
    .replace("timeout check 2s", "timeout check 250ms");
  if (!tweaked.includes("inter 250ms") || !tweaked.includes("timeout check 250ms"))
    throw new Error("the shipped haproxy config changed: update fastChecks");
  return tweaked;
}

let redis: RedisServer;
const nodes: ServerProcess[] = [];
const proxies: LinkProxy[] = [];
const balancers: HaproxyProcess[] = [];
const sdks: Client[] = [];
const raws: RawClient[] = [];
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());
afterEach(async () => {
  for (const client of sdks.splice(0)) client.disconnect();
  await Promise.all(raws.splice(0).map((c) => c.close()));
  await Promise.all(balancers.splice(0).map((b) => b.stop()));
  await Promise.all(nodes.splice(0).map((n) => n.stop("SIGKILL")));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

interface Fleet {
  /** The node behind the link proxy (the one the faults hit), then two healthy ones. */
  a: ServerProcess;
  b: ServerProcess;
  proxy: LinkProxy;
  haproxy: HaproxyProcess;
  publisher: RawClient;
  /** Per SDK client, every publication it got with the time it arrived. */
  received: { seq: number; at: number }[][];
}

/**
 * Three nodes on one Redis (node A through a {@link LinkProxy}) behind the shipped HAProxy
 * config, six SDK clients subscribed through the balancer (least connections: two per node),
 * and a raw publisher on node B.
 */
async function startFleet(extraArgs: string[]): Promise<Fleet> {
  const proxy = new LinkProxy({ host: "127.0.0.1", port: redis.port });
  proxies.push(proxy);
  const proxyUrl = await proxy.start();
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const config = configFile({ namespaces: CLUSTER_NAMESPACES, demo: false });
  const args = (url: string): string[] => [
    "--engine",
    "redis",
    "--redis-url",
    url,
    "--redis-prefix",
    prefix,
    "--port",
    "0",
    "--config",
    config,
    "--node-ttl-ms",
    "1500",
    ...extraArgs,
  ];
  const started = await Promise.all([proxyUrl, redis.url, redis.url].map((url) => ServerProcess.start(args(url))));
  nodes.push(...started);
  const [a, b] = started as [ServerProcess, ServerProcess, ServerProcess];
  const haproxy = await HaproxyProcess.start(
    "hubcast.cfg",
    started.map((n) => `127.0.0.1:${n.port}`),
    fastChecks,
  );
  balancers.push(haproxy);
  await eventually(
    async () => (await haproxy.stats()).filter((r) => r["pxname"] === "hubcast" && r["status"] === "UP").length === 3,
    10_000,
    "haproxy to see three nodes up",
  );
  // Node A drains only to peers it knows: nodes started together may miss each other in their first read of the view.
  await eventually(
    async () => sample(await scrapeFresh(a.url), "hubcast_cluster_peers") === 2,
    5_000,
    "node A to see its two peers",
  );
  const received: { seq: number; at: number }[][] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const client = new Client(haproxy.wsUrl, {
      websocket: WebSocket,
      minReconnectDelayMs: 20,
      maxReconnectDelayMs: 200,
      timeoutMs: 2_000,
    });
    sdks.push(client);
    const got: { seq: number; at: number }[] = [];
    received.push(got);
    const sub = client.newSubscription(CHANNEL);
    sub.on("publication", (p: PublicationPush) => got.push({ seq: (p.data as { seq: number }).seq, at: Date.now() }));
    sub.subscribe();
    client.connect();
    await sub.ready(); // one by one, so least connections spreads them evenly
  }
  expect(await connections(a)).toBeGreaterThan(0);
  const publisher = await RawClient.connected(b.wsUrl);
  raws.push(publisher);
  // Every node must hear a first publication before the fault, so "resumed" means resumed.
  await publish(publisher, 0);
  await eventually(() => received.every((got) => got.length === 1), 5_000, "every client to get the first publication");
  return { a, b, proxy, haproxy, publisher, received };
}

async function connections(node: ServerProcess): Promise<number> {
  return sample(await scrapeFresh(node.url), "hubcast_connections");
}

async function publish(publisher: RawClient, seq: number): Promise<void> {
  await publisher.ok("publish", { channel: CHANNEL, data: { seq } });
}

/**
 * Publishes every 100 ms from `faultAt` on until every client has received a publication made
 * after the fault; resolves with each client's wait from the fault, in ms.
 */
async function resumeTimes(fleet: Fleet, faultAt: number, timeoutMs: number): Promise<number[]> {
  let seq = 1;
  const resumedAt = (got: { seq: number; at: number }[]): number | undefined => got.find((r) => r.seq >= 1)?.at;
  const deadline = faultAt + timeoutMs;
  while (fleet.received.some((got) => resumedAt(got) === undefined)) {
    if (Date.now() > deadline)
      throw new Error(
        `not every client received again within ${timeoutMs} ms: ${fleet.received.map((g) => g.length).join(",")}`,
      );
    await publish(fleet.publisher, seq++);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return fleet.received.map((got) => (resumedAt(got) ?? 0) - faultAt);
}

/** Every client ends up with every publication exactly once, in order (recovery filled any gap). */
async function expectNothingLost(fleet: Fleet): Promise<void> {
  const last = Date.now();
  await publish(fleet.publisher, 1_000_000);
  await eventually(
    () => fleet.received.every((got) => got.some((r) => r.seq === 1_000_000)),
    5_000,
    "the final publication everywhere",
  );
  const published = fleet.received[0]?.map((r) => r.seq) ?? [];
  for (const got of fleet.received) expect(got.map((r) => r.seq)).toEqual(published);
  expect(Date.now() - last).toBeLessThan(5_000);
}

const logCount = (node: ServerProcess, msg: string): number => node.logs.filter((l) => l["msg"] === msg).length;
const readyz = async (node: ServerProcess): Promise<number> => (await fetch(`${node.url}/readyz`)).status;

describe.skipIf(HAPROXY === undefined)("link liveness and self-healing, three nodes behind HAProxy", () => {
  it("a blackholed pub/sub link: the node goes unready within seconds, logs once, replaces the link, and every client receives again within 5 s", {
    timeout: 30_000,
  }, async () => {
    const fleet = await startFleet([]);
    const subscriberPorts = (await redis.cli("CLIENT", "LIST"))
      .split("\n")
      .filter((l) => /\bsub=[1-9]/.test(l))
      .map((l) => Number(/addr=[^ ]*:(\d+)/.exec(l)?.[1]));
    const faultAt = Date.now();
    expect(fleet.proxy.blackhole((port) => subscriberPorts.includes(port))).toBe(1);

    const waits = await resumeTimes(fleet, faultAt, LINK_FAULT_BOUND_MS + 3_000);
    // The node is unready from the first log line below until the new link holds every
    // subscription: milliseconds on loopback, too short to catch by polling /readyz.
    const dead = fleet.a.logs.filter(
      (l) => l["msg"] === "redis pub/sub link silent: PING unanswered; not ready, replacing the connection",
    );
    const replaced = fleet.a.logs.find((l) => l["msg"] === "redis pub/sub link replaced by a new connection");
    const unreadyAfterMs = Number(dead[0]?.["time"]) - faultAt;
    console.log(
      `pub/sub blackhole: unready after ${unreadyAfterMs} ms for ${String(replaced?.["downMs"])} ms, delivery resumed after ${waits.join(", ")} ms`,
    );
    expect(dead).toHaveLength(1);
    expect(unreadyAfterMs).toBeLessThan(3_500); // one PING interval plus the pong timeout
    expect(Math.max(...waits)).toBeLessThanOrEqual(LINK_FAULT_BOUND_MS);
    expect(await readyz(fleet.a)).toBe(200);
    expect(sample(await scrapeFresh(fleet.a.url), 'hubcast_engine_links_dead_total{link="pubsub"}')).toBe(1);
    await expectNothingLost(fleet);
  });

  it("a node that loses Redis drains its clients with the reconnect hint after the grace, they receive again on healthy nodes within 5 s, and it is ready again once its link heals", {
    timeout: 30_000,
  }, async () => {
    const fleet = await startFleet(["--unready-drain-grace-ms", "1000"]);
    const watcher = await RawClient.connected(fleet.a.wsUrl); // sees the disconnect push itself
    raws.push(watcher);
    const faultAt = Date.now();
    fleet.proxy.setMode("reset");

    const waits = await resumeTimes(fleet, faultAt, LINK_FAULT_BOUND_MS + 3_000).catch(async (err: unknown) => {
      // What node A and the balancer saw, for a failure that only shows under load.
      const servers = (await fleet.haproxy.stats())
        .filter((r) => r["pxname"] === "hubcast")
        .map((r) => `${r["svname"]} ${r["status"]}`);
      console.log([...fleet.a.logs.map((l) => JSON.stringify(l)), ...servers].join("\n"));
      throw err;
    });
    console.log(`redis lost by one node: delivery resumed after ${waits.join(", ")} ms`);
    expect(Math.max(...waits)).toBeLessThanOrEqual(LINK_FAULT_BOUND_MS);
    const push = await watcher.waitFor((f) => f["disconnect"] !== undefined, "the drain push", 5_000);
    expect(push["disconnect"]).toEqual({ code: 3000, reason: UNREADY_REASON, reconnect: true });
    await eventually(async () => (await connections(fleet.a)) === 0, 5_000, "node A to have no clients");
    await expect(RawClient.open(fleet.a.wsUrl)).rejects.toThrow(/503/);
    expect(
      logCount(fleet.a, "node unready past unreadyDrainGraceMs: asking clients to reconnect to another node"),
    ).toBe(1);

    fleet.proxy.setMode("forward");
    await eventually(async () => (await readyz(fleet.a)) === 200, 8_000, "node A to be ready again");
    await eventually(
      () => logCount(fleet.a, "node ready again; accepting connections") === 1,
      2_000,
      "node A to log that it accepts again",
    );
    raws.push(await RawClient.connected(fleet.a.wsUrl));
    expect(sample(await scrapeFresh(fleet.a.url), "hubcast_self_drains_total")).toBe(1);
    await expectNothingLost(fleet);
  });

  it("a frozen node's SDK clients reconnect elsewhere and receive again within pingIntervalMs + pongTimeoutMs", {
    timeout: 30_000,
  }, async () => {
    const fleet = await startFleet(["--ping-interval-ms", String(PING_MS), "--pong-timeout-ms", String(PONG_MS)]);
    const faultAt = Date.now();
    fleet.a.child.kill("SIGSTOP");
    try {
      const waits = await resumeTimes(fleet, faultAt, PING_MS + PONG_MS + 5_000);
      console.log(`frozen node: delivery resumed after ${waits.join(", ")} ms`);
      // Detection is bounded by ping + pong; the reconnect and resubscribe that follow take a round trip or two.
      expect(Math.max(...waits)).toBeLessThanOrEqual(PING_MS + PONG_MS + RECONNECT_ALLOWANCE_MS);
    } finally {
      fleet.a.child.kill("SIGCONT");
    }
  });
});

/** A reconnect through the balancer: the SDK's first backoff (at most 20 ms here), connect and resubscribe with recovery. */
const RECONNECT_ALLOWANCE_MS = 500;
