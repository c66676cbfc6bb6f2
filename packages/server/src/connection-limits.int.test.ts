import { CloseCode, ErrorCode } from "@hubcast/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "../../../test/support/nodes.js";
import type { RawClient } from "../../../test/support/raw-client.js";
import { StalledSocket, closeCodeAtEnd } from "../../../test/support/stalled-socket.js";

const cluster = new TestCluster();
afterEach(() => cluster.cleanup());

const byToken = { authenticate: ({ token }: { token: string | undefined }) => Promise.resolve({ user: token ?? "" }) };

describe("per-connection and per-node limits", () => {
  it("refuses commands over the rate with too_many_requests, then closes a client that keeps on", async () => {
    const { wsUrl } = await cluster.node({ commandRatePerSecond: 1, commandBurst: 5, maxRateLimitedCommands: 3 });
    const c = await cluster.client(wsUrl); // connect took one token of the burst of 5
    for (let i = 0; i < 4; i++) await c.ok("unsubscribe", { channel: "chat:r" });
    const refused = await c.fails("unsubscribe", { channel: "chat:r" });
    expect(refused).toMatchObject({ code: ErrorCode.tooManyRequests, temporary: true });
    for (let i = 0; i < 3; i++) c.send({ id: 100 + i, unsubscribe: { channel: "chat:r" } });
    expect((await c.closed).code).toBe(CloseCode.rateLimited);
    expect(c.pushes("disconnect")).toMatchObject([{ code: CloseCode.rateLimited, reconnect: true }]);
  });

  it("limits subscriptions per connection", async () => {
    const { wsUrl } = await cluster.node({ maxSubscriptionsPerConnection: 2 });
    const c = await cluster.client(wsUrl);
    await c.ok("subscribe", { channel: "plain:1" });
    await c.ok("subscribe", { channel: "plain:2" });
    expect(await c.fails("subscribe", { channel: "plain:3" })).toMatchObject({
      code: ErrorCode.limitExceeded,
      message: expect.stringContaining("maxSubscriptionsPerConnection"),
    });
    await c.ok("unsubscribe", { channel: "plain:1" });
    await c.ok("subscribe", { channel: "plain:3" }); // room again after an unsubscribe
  });

  it("limits connections per user on a node, and frees the slot when one closes", async () => {
    const { wsUrl } = await cluster.node({ maxConnectionsPerUser: 2 }, byToken);
    const first = await cluster.client(wsUrl, false);
    await first.ok("connect", { token: "ann" });
    const second = await cluster.client(wsUrl, false);
    await second.ok("connect", { token: "ann" });
    const bob = await cluster.client(wsUrl, false);
    await bob.ok("connect", { token: "bob" }); // other users are not affected
    const third = await cluster.client(wsUrl, false);
    third.send({ id: 1, connect: { token: "ann" } });
    expect((await third.closed).code).toBe(CloseCode.connectionLimit);
    expect(third.pushes("disconnect")).toMatchObject([{ code: CloseCode.connectionLimit, reconnect: true }]);
    await first.close();
    const again = await cluster.client(wsUrl, false);
    await waitUntilConnects(again, "ann");
  });

  it("limits connections per IP address, telling the excess in-band", async () => {
    const { wsUrl } = await cluster.node({ maxConnectionsPerIp: 2 });
    await cluster.client(wsUrl);
    await cluster.client(wsUrl);
    const excess = await cluster.client(wsUrl, false);
    expect((await excess.closed).code).toBe(CloseCode.connectionLimit);
    expect(excess.pushes("disconnect")).toMatchObject([{ code: CloseCode.connectionLimit }]);
  });

  it("closes connected clients that hold no subscription for idleTimeoutMs", async () => {
    const { wsUrl } = await cluster.node({ idleTimeoutMs: 150 });
    const busy = await cluster.client(wsUrl);
    await busy.ok("subscribe", { channel: "plain:busy" });
    const idle = await cluster.client(wsUrl);
    expect((await idle.closed).code).toBe(CloseCode.idle);
    // Idle again after its last unsubscribe: the clock starts then.
    await busy.ok("unsubscribe", { channel: "plain:busy" });
    expect((await busy.closed).code).toBe(CloseCode.idle);
  });

  it("admits new connections at a bounded rate and tells the excess when to retry", async () => {
    const { wsUrl } = await cluster.node({ maxConnectionsPerSecond: 5 });
    const crowd = await Promise.all(Array.from({ length: 12 }, () => cluster.client(wsUrl, false)));
    const turnedAway = crowd.filter((c) => c.pushes("disconnect").length > 0);
    expect(turnedAway.length).toBeGreaterThanOrEqual(7);
    for (const c of turnedAway) {
      expect((await c.closed).code).toBe(CloseCode.tryLater);
      const [push] = c.pushes<{ code: number; reconnect: boolean; retryAfterMs: number }>("disconnect");
      expect(push).toMatchObject({ code: CloseCode.tryLater, reconnect: true });
      expect(push?.retryAfterMs).toBeGreaterThanOrEqual(1_000);
    }
    const admitted = crowd.filter((c) => c.pushes("disconnect").length === 0);
    await Promise.all(admitted.map((c) => c.ok("connect", {})));
  });

  it("disconnects a slow reader with slow_consumer while fast readers keep receiving everything", async () => {
    const { node, wsUrl } = await cluster.node({ maxConnectionBytes: 64 * 1024, commandRatePerSecond: 0 });
    const fast = await Promise.all([cluster.client(wsUrl), cluster.client(wsUrl)]);
    for (const c of fast) await c.ok("subscribe", { channel: "plain:firehose" });
    const slow = await StalledSocket.open(wsUrl, [
      { id: 1, connect: {} },
      { id: 2, subscribe: { channel: "plain:firehose" } },
    ]);
    const publisher = await cluster.client(wsUrl);
    await fast[0]?.waitFor(() => node.info().subscriptions === 3, "the stalled socket's subscription");
    const payload = "x".repeat(16 * 1024);
    let sent = 0;
    try {
      // A closed session releases its subscriptions at once (its socket may linger until the grace ends).
      while (node.info().subscriptions === 3 && sent < 5_000) {
        await publisher.ok("publish", { channel: "plain:firehose", data: { n: sent, payload } });
        sent += 1;
      }
      expect(node.info().subscriptions).toBe(2); // the slow reader is gone; everyone else remains
      await publisher.ok("publish", { channel: "plain:firehose", data: { n: "end" } });
      for (const c of fast) {
        const pubs = await c.waitForPushes<{ data: { n: number | string } }>(
          "publication",
          sent + 1,
          "plain:firehose",
          15_000,
        );
        expect(pubs.map((p) => p.data.n)).toEqual([...Array.from({ length: sent }, (_, i) => i), "end"]);
      }
      // Reading again, it finds what was buffered and then the close frame with the documented code.
      expect(closeCodeAtEnd(await slow.drain())).toBe(CloseCode.slowConsumer);
    } finally {
      slow.destroy();
    }
  });
});

async function waitUntilConnects(client: RawClient, user: string): Promise<void> {
  // The closed connection's slot is freed when the node sees the close; retry until it has.
  const deadline = Date.now() + 5_000;
  for (;;) {
    const reply = await client.command("connect", { token: user });
    if (reply["connect"] !== undefined) return;
    if (Date.now() > deadline) throw new Error("the freed slot was never reused");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
