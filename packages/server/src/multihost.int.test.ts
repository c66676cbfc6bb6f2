import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { Client, LocalCode } from "@hubcast/client";
import type { DisconnectedEvent, Subscription } from "@hubcast/client";
import { WebSocket } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { Balancer } from "../../../test/support/balancer.js";
import { eventually } from "../../../test/support/eventually.js";
import { createNetwork, netnsUnavailableReason, startHubcastIn, startRedisIn } from "../../../test/support/netns.js";
import type { TestNetwork } from "../../../test/support/netns.js";
import { configFile } from "../../../test/support/redis-nodes.js";
import type { NodeInfo } from "./registry/registry.js";

// Probed once, before any test is collected, so the skip is decided up front and said out loud.
const unavailable = netnsUnavailableReason();
if (unavailable !== undefined) console.warn(`multihost.int.test.ts: skipping the multi-host test: ${unavailable}`);

const API_KEY = "multihost-test-api-key-0123456789";
const PORT = 8080; // each host has a namespace of its own, so a fixed port cannot collide
const NODE_TTL_MS = 2000;
const PING_INTERVAL_MS = 1000;
/** The SDK's dead-link deadline: 2× the ping interval plus a grace of min(1000, interval / 2). */
const DEAD_LINK_MS = 2 * PING_INTERVAL_MS + Math.min(1000, PING_INTERVAL_MS / 2);
const CHANNEL = "feed:multihost";
const SUBSCRIBERS = 30;
/** Subscribers per host: the balancer deals them round robin. */
const PER_HOST = SUBSCRIBERS / 3;
const PUBLISH_PERIOD_MS = 20;
const NODE_HOSTS = ["h1", "h2", "h3"] as const;
type NodeHost = (typeof NODE_HOSTS)[number];

/** What the running test started, undone newest first after it, whether it passed or not. */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  const errors: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (err) {
      errors.push(err); // keep undoing the rest, then report every failure
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, "multihost cleanup failed");
});

interface Cluster {
  network: TestNetwork;
  /** ws:// URL of the balancer in front of h1–h3 (root namespace, loopback). */
  balancerUrl: string;
  httpUrl(host: NodeHost): string;
}

/** Network, Redis, one node per host and the balancer, each registered for cleanup as it starts. */
async function startCluster(): Promise<Cluster> {
  const network = await createNetwork();
  cleanups.push(() => network.destroy());
  const redis = await startRedisIn(network, "redis");
  cleanups.push(redis.stop);
  const config = configFile({ namespaces: { feed: { historySize: 10_000, allowPublish: true } }, demo: false });
  cleanups.push(() => rmSync(dirname(config), { recursive: true, force: true }));
  const httpUrl = (host: NodeHost): string => `http://${network.address(host)}:${PORT}`;
  const nodeArgs = (host: NodeHost): string[] => [
    ...["--engine", "redis", "--redis-url", redis.url, "--config", config, "--api-key", API_KEY],
    ...["--host", network.address(host), "--port", String(PORT), "--advertise-url", httpUrl(host)],
    ...["--node-ttl-ms", String(NODE_TTL_MS), "--presence-ttl-ms", "2000", "--drain-window-ms", "1000"],
    ...["--ping-interval-ms", String(PING_INTERVAL_MS), "--pong-timeout-ms", "800"],
  ];
  await Promise.all(
    NODE_HOSTS.map(async (host) => {
      const node = await startHubcastIn(network, host, nodeArgs(host));
      cleanups.push(() => node.stop());
    }),
  );
  const balancer = new Balancer();
  cleanups.push(() => balancer.close());
  const balancerUrl = await balancer.start();
  for (const host of NODE_HOSTS) await balancer.add(httpUrl(host));
  return { network, balancerUrl, httpUrl };
}

/** A current value from a node's `/metrics`. */
async function metric(cluster: Cluster, host: NodeHost, name: string): Promise<number> {
  const res = await fetch(`${cluster.httpUrl(host)}/metrics`, { signal: AbortSignal.timeout(2_000) });
  const line = (await res.text()).split("\n").find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} is missing from ${host}'s /metrics`);
  return Number(line.slice(name.length + 1));
}

/** The addresses in the cluster view, as `GET /api/nodes` on `host` reports it. */
async function clusterView(cluster: Cluster, host: NodeHost): Promise<string[]> {
  const res = await fetch(`${cluster.httpUrl(host)}/api/nodes`, {
    headers: { Authorization: `Bearer ${API_KEY}` },
    signal: AbortSignal.timeout(2_000),
  });
  if (res.status !== 200) throw new Error(`GET /api/nodes on ${host} answered ${res.status}`);
  const { nodes } = (await res.json()) as { nodes: NodeInfo[] };
  return nodes.map((n) => n.address).sort();
}

interface Subscriber {
  client: Client;
  subscription: Subscription;
  /** `data` of every publication received, in order of arrival. */
  received: unknown[];
  disconnects: DisconnectedEvent[];
}

function sdkClient(url: string): Client {
  const client = new Client(url, {
    websocket: WebSocket,
    timeoutMs: 3_000,
    minReconnectDelayMs: 50,
    maxReconnectDelayMs: 500,
  });
  // Reconnect attempts may fail while the balancer catches up; the assertions judge the outcome.
  client.on("error", () => undefined);
  cleanups.push(() => client.disconnect());
  return client;
}

/** An SDK client subscribed to {@link CHANNEL} through `url`, resolved once subscribed. */
async function subscriber(url: string): Promise<Subscriber> {
  const client = sdkClient(url);
  const s: Subscriber = { client, subscription: client.newSubscription(CHANNEL), received: [], disconnects: [] };
  s.subscription.on("publication", (p) => s.received.push(p.data));
  s.subscription.on("error", () => undefined); // as above: judged by what arrives, not by retries
  client.on("disconnected", (event) => s.disconnects.push(event));
  s.subscription.subscribe();
  client.connect();
  await s.subscription.ready(10_000);
  return s;
}

/**
 * Publishes 1, 2, 3, … to {@link CHANNEL}, one at a time, at most one per period: a steady
 * workload, not a wait. `stop()` resolves with the last number sent once its reply is in.
 */
function steadyPublisher(client: Client): { errors: unknown[]; stop: () => Promise<number> } {
  const errors: unknown[] = [];
  let sent = 0;
  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (inFlight !== undefined) return;
    sent += 1;
    inFlight = client.publish(CHANNEL, sent).then(
      () => undefined,
      (err: unknown) => void errors.push(err),
    );
    void inFlight.finally(() => (inFlight = undefined));
  }, PUBLISH_PERIOD_MS);
  cleanups.push(() => clearInterval(timer));
  return {
    errors,
    stop: async () => {
      clearInterval(timer);
      await inFlight;
      return sent;
    },
  };
}

/** "exact" when `received` is `first..last` once each in order; otherwise what is wrong. */
function judge(received: readonly unknown[], first: number, last: number): string {
  const expected = Array.from({ length: last - first + 1 }, (_, i) => first + i);
  if (received.length === expected.length && received.every((v, i) => v === expected[i])) return "exact";
  const seen = new Set(received);
  const missing = expected.filter((n) => !seen.has(n));
  const duplicates = received.filter((v, i) => received.indexOf(v) !== i);
  return `got ${received.length} of ${expected.length}; missing ${missing.slice(0, 5).join(",")}…(${missing.length}); duplicates ${duplicates.slice(0, 5).join(",")}…(${duplicates.length})`;
}

/**
 * Cuts h3's link and checks, concurrently: exactly h3's clients notice by the SDK's dead-link
 * timer (nothing else can tell them) and resubscribe through the balancer on h1 and h2; and
 * h3 leaves the cluster view on h2 within the node TTL.
 */
async function cutH3AndWatchItsClientsMove(cluster: Cluster, subscribers: Subscriber[]): Promise<void> {
  const cutAt = Date.now();
  await cluster.network.cutLink("h3");
  const deadLinked = (): Subscriber[] =>
    subscribers.filter((s) => s.disconnects.some((d) => d.code === LocalCode.noPing));
  const indexes = (list: Subscriber[]): number[] => list.map((s) => subscribers.indexOf(s));
  const connections = (host: NodeHost): Promise<number> => metric(cluster, host, "hubcast_connections");
  const clientsMove = async (): Promise<void> => {
    await eventually(
      () => deadLinked().length === PER_HOST,
      DEAD_LINK_MS + 2_000,
      "h3's clients to detect the dead link",
    );
    expect(indexes(subscribers.filter((s) => s.disconnects.length > 0))).toEqual(indexes(deadLinked()));
    await eventually(
      () => deadLinked().every((s) => s.subscription.state === "subscribed"),
      10_000,
      "h3's clients to resubscribe elsewhere",
    );
    await eventually(
      async () => (await connections("h1")) + (await connections("h2")) === SUBSCRIBERS + 1,
      5_000,
      "h1 and h2 to hold every client",
    );
  };
  const leavesView = async (): Promise<number> => {
    await eventually(
      async () => !(await clusterView(cluster, "h2")).includes(cluster.httpUrl("h3")),
      NODE_TTL_MS + 2_000,
      "h3 to leave the cluster view",
    );
    return Date.now() - cutAt;
  };
  const [, leftViewAfterMs] = await Promise.all([clientsMove(), leavesView()]);
  expect(leftViewAfterMs).toBeLessThan(NODE_TTL_MS + 500);
}

/**
 * Restores h3's link, waits for it to rejoin the cluster view, then adds subscribers through
 * the balancer until h3 has accepted one (its connection counter grew); resolves with them.
 */
async function restoreH3UntilItTakesAClient(cluster: Cluster, acceptedBeforeCut: number): Promise<Subscriber[]> {
  await cluster.network.restoreLink("h3");
  await eventually(
    async () => (await clusterView(cluster, "h2")).includes(cluster.httpUrl("h3")),
    15_000,
    "h3 to rejoin the cluster view",
  );
  const late: Subscriber[] = [];
  await eventually(
    async () => {
      late.push(await subscriber(cluster.balancerUrl));
      return (await metric(cluster, "h3", 'hubcast_connections_total{transport="websocket"}')) > acceptedBeforeCut;
    },
    10_000,
    "a new client through the balancer to land on h3",
  );
  return late;
}

describe("three hosts on one Redis, across a real (namespaced) network", () => {
  it.skipIf(unavailable !== undefined)(
    "moves a cut host's clients to the others without loss, drops it from the cluster view, and takes it back",
    async () => {
      const cluster = await startCluster();
      const { network } = cluster;
      const publisherClient = sdkClient(`ws://${network.address("h1")}:${PORT}/ws`);
      publisherClient.connect();
      await publisherClient.ready(10_000);
      const subscribers = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => subscriber(cluster.balancerUrl)));
      const connections = (host: NodeHost): Promise<number> => metric(cluster, host, "hubcast_connections");
      // Round robin: ten subscribers per host, plus the publisher on h1.
      expect(await Promise.all(NODE_HOSTS.map(connections))).toEqual([PER_HOST + 1, PER_HOST, PER_HOST]);
      expect(await clusterView(cluster, "h2")).toEqual(NODE_HOSTS.map(cluster.httpUrl).sort());

      const publisher = steadyPublisher(publisherClient);
      await eventually(
        () => subscribers.every((s) => s.received.length >= 20),
        10_000,
        "every subscriber to receive 20 publications",
      );

      const acceptedBeforeCut = await metric(cluster, "h3", 'hubcast_connections_total{transport="websocket"}');
      await cutH3AndWatchItsClientsMove(cluster, subscribers);
      const late = await restoreH3UntilItTakesAClient(cluster, acceptedBeforeCut);
      await eventually(
        () => late.every((s) => s.received.length >= 20),
        10_000,
        "the new clients to receive 20 publications",
      );

      const last = await publisher.stop();
      expect(publisher.errors).toEqual([]);
      const everyone = [...subscribers, ...late];
      await eventually(
        () => everyone.every((s) => s.received.at(-1) === last),
        10_000,
        "every client to receive the last publication",
      );
      expect(subscribers.map((s) => judge(s.received, 1, last))).toEqual(subscribers.map(() => "exact"));
      expect(late.map((s) => judge(s.received, Number(s.received[0]), last))).toEqual(late.map(() => "exact"));
    },
    60_000,
  );
});
