import { Client } from "@hubcast/client";
import type { PublicationPush, SubscribedEvent } from "@hubcast/client";
import { WebSocket } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "../../../test/support/nodes.js";
import { OutageProxy } from "../../../test/support/outage-proxy.js";
import { ServerProcess } from "../../../test/support/processes.js";
import { withTimeout } from "../../../test/support/raw-client.js";

const cluster = new TestCluster();
const clients: Client[] = [];
/** Errors the SDK reported (refused reconnects while a server is down are expected). */
const sdkErrors: Error[] = [];
const proxies: OutageProxy[] = [];
const servers: ServerProcess[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
  await cluster.cleanup();
});

function sdk(url: string, options: ConstructorParameters<typeof Client>[1] = {}): Client {
  const client = new Client(url, {
    websocket: WebSocket,
    minReconnectDelayMs: 20,
    maxReconnectDelayMs: 200,
    ...options,
  });
  client.on("error", ({ error }) => sdkErrors.push(error));
  clients.push(client);
  return client;
}

/** Resolves with the next `subscribed` event of `sub`. */
const nextSubscribed = (sub: ReturnType<Client["newSubscription"]>): Promise<SubscribedEvent> =>
  withTimeout(new Promise((resolve) => sub.once("subscribed", resolve)), 10_000, "subscribed");

/** Resolves once `check()` holds, re-checking every 10 ms for up to 10 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("SDK against a real node", () => {
  it("publishes, reads presence and history, and receives its publications", async () => {
    const { wsUrl } = await cluster.node();
    const client = sdk(wsUrl);
    const sub = client.newSubscription("chat:sdk");
    const got: PublicationPush[] = [];
    sub.on("publication", (p) => got.push(p));
    sub.subscribe();
    client.connect();
    await sub.ready();
    const { position } = await sub.publish({ text: "one" });
    await client.publish("chat:sdk", { text: "two" });
    await until(() => got.length === 2, "2 publications");
    expect(got.map((p) => p.data)).toEqual([{ text: "one" }, { text: "two" }]);
    expect(sub.position).toEqual({ offset: 2, epoch: position?.epoch });
    expect(Object.keys((await sub.presence()).clients)).toHaveLength(1);
    expect(await sub.presenceStats()).toEqual({ numClients: 1, numUsers: 1 });
    const history = await sub.history({ limit: 1, reverse: true });
    expect(history.publications.map((p) => p.data)).toEqual([{ text: "two" }]);
    await expect(client.publish("readonly:x", 1)).rejects.toMatchObject({ code: 103, temporary: false });
  });

  it("recovers every publication missed while its socket was cut, exactly once and in order", async () => {
    const { node, wsUrl } = await cluster.node();
    const proxy = new OutageProxy(node.address);
    proxies.push(proxy);
    const proxied = `${(await proxy.start()).replace(/^http/, "ws")}/ws`;
    const client = sdk(proxied);
    const sub = client.newSubscription("chat:cut");
    const got: number[] = [];
    sub.on("publication", (p) => got.push(p.data as number));
    const subscribedEvents: SubscribedEvent[] = [];
    sub.on("subscribed", (e) => subscribedEvents.push(e));
    sub.subscribe();
    client.connect();
    await sub.ready();

    const publisher = await cluster.client(wsUrl);
    for (let i = 1; i <= 10; i++) await publisher.ok("publish", { channel: "chat:cut", data: i });
    await until(() => got.length === 10, "first 10");

    const disconnected = withTimeout(
      new Promise((resolve) => client.once("disconnected", resolve)),
      5_000,
      "disconnected",
    );
    proxy.setUp(false);
    await disconnected;
    for (let i = 11; i <= 60; i++) await publisher.ok("publish", { channel: "chat:cut", data: i });
    const resubscribed = nextSubscribed(sub);
    proxy.setUp(true);
    // Keep publishing while the client reconnects and recovers.
    for (let i = 61; i <= 80; i++) await publisher.ok("publish", { channel: "chat:cut", data: i });
    expect(await resubscribed).toMatchObject({ recovered: true, wasRecovering: true });
    await until(() => got.length >= 80, "all 80");
    expect(got).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    expect(subscribedEvents).toHaveLength(2);
  });

  it("reconnects with backoff to a restarted server process, resubscribes, and reports recovered: false", async () => {
    const first = await ServerProcess.start(["--port", "0"]);
    servers.push(first);
    // random() = 0.5 makes full jitter deterministic: delays are half the exponential cap.
    const client = sdk(first.wsUrl, { random: () => 0.5, minReconnectDelayMs: 40, maxReconnectDelayMs: 320 });
    const sub = client.newSubscription("demo:restart");
    const got: unknown[] = [];
    sub.on("publication", (p) => got.push(p.data));
    sub.subscribe();
    client.connect();
    await sub.ready();
    await sub.publish("before");
    await until(() => got.length === 1, "first publication");

    const attempts: number[] = [];
    client.on("connecting", () => attempts.push(Date.now()));
    expect(await first.stop("SIGTERM")).toBe(0);
    await until(() => attempts.length >= 5, "5 reconnect attempts");
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] ?? t));
    // Exponential with the cap: 20, 40, 80, 160 ms (then 160) plus connect time; never a hot loop.
    expect(gaps[0]).toBeGreaterThanOrEqual(15);
    expect(gaps[3]).toBeGreaterThanOrEqual(120);
    expect(Math.max(...gaps)).toBeLessThan(2_000);
    expect(client.state).toBe("connecting");

    const resubscribed = nextSubscribed(sub);
    const second = await ServerProcess.start(["--port", String(first.port)]);
    servers.push(second);
    // A restarted memory engine has a new epoch: the SDK must say it could not recover.
    expect(await resubscribed).toMatchObject({ recovered: false, wasRecovering: true, recoverable: true });
    expect(client.state).toBe("connected");
    await sub.publish("after");
    await until(() => got.length === 2, "publication after restart");
    expect(got).toEqual(["before", "after"]);
  });
});
