import { afterEach, describe, expect, it } from "vitest";
import { CloseCode, ErrorCode } from "@hubcast/protocol";
import { TestCluster } from "../../../../test/support/nodes.js";
import type { RawClient } from "../../../../test/support/raw-client.js";
import { withTimeout } from "../../../../test/support/raw-client.js";
import { TEST_SECRET, nowSeconds, sign } from "../../../../test/support/tokens.js";

// Short ping and pong periods make the node-wide sweep (which closes expired connections) run
// every 100 ms, and the pings serve the tests as a clock; generous enough for a loaded machine.
const FAST_SWEEP = { pingIntervalMs: 500, pongTimeoutMs: 400 };

const cluster = new TestCluster();
afterEach(() => cluster.cleanup());

async function connected(
  token: string,
  options: Record<string, unknown> = {},
): Promise<{ client: RawClient; expiresAt: number }> {
  const { wsUrl } = await cluster.node({
    namespaces: { open: {} },
    tokenHmacSecret: TEST_SECRET,
    ...FAST_SWEEP,
    ...options,
  });
  const client = await cluster.client(wsUrl, false);
  const { expiresAt } = await client.ok<{ expiresAt: number }>("connect", { token });
  return { client, expiresAt };
}

/** Waits for a ping that arrives after `time` (ms since the epoch): proof the connection outlived it. */
const pingAfter = (client: RawClient, time: number, timeoutMs: number): Promise<unknown> =>
  client.waitFor(
    (f) => f["ping"] !== undefined && Date.now() > time,
    `a ping after ${new Date(time).toISOString()}`,
    timeoutMs,
    client.frames.length,
  );

describe("token expiry and refresh", () => {
  it("closes a connection whose token expired without refresh with 3005, after a disconnect push", async () => {
    const exp = nowSeconds() + 2;
    const { client, expiresAt } = await connected(await sign({ sub: "alice", exp }, { ttlSeconds: null }));
    expect(expiresAt).toBe(exp * 1000);
    const closed = await withTimeout(client.closed, 4_000, "the expiry close");
    expect(closed).toEqual({ code: CloseCode.tokenExpired, reason: "token_expired" });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    expect(client.pushes("disconnect")).toEqual([
      { code: CloseCode.tokenExpired, reason: "token_expired", reconnect: true },
    ]);
  });

  it("extends the connection past the original exp with refresh, then closes at the new exp", async () => {
    const { client, expiresAt } = await connected(await sign({ sub: "alice" }, { ttlSeconds: 2 }));
    const fresh = await client.ok<{ expiresAt: number }>("refresh", {
      token: await sign({ sub: "alice" }, { ttlSeconds: 3 }),
    });
    expect(fresh.expiresAt).toBeGreaterThan(expiresAt);
    await pingAfter(client, expiresAt + 300, 4_000);
    await client.ok("subscribe", { channel: "open:still-here" });
    const closed = await withTimeout(client.closed, 4_000, "the close at the refreshed expiry");
    expect(closed.code).toBe(CloseCode.tokenExpired);
    expect(Date.now()).toBeGreaterThanOrEqual(fresh.expiresAt);
  });

  it("refuses a refresh for another user (101), and an expired refresh token (113), keeping the old expiry", async () => {
    const { client, expiresAt } = await connected(await sign({ sub: "alice" }, { ttlSeconds: 2 }));
    expect(await client.fails("refresh", { token: await sign({ sub: "bob" }, { ttlSeconds: 60 }) })).toMatchObject({
      code: ErrorCode.unauthorized,
      message: "the refresh token is for another user than the connection's",
    });
    expect(await client.fails("refresh", { token: await sign({ sub: "alice" }, { ttlSeconds: -1 }) })).toMatchObject({
      code: ErrorCode.tokenExpired,
    });
    expect(await client.fails("refresh", { token: "junk" })).toMatchObject({ code: ErrorCode.unauthorized });
    expect((await withTimeout(client.closed, 4_000, "the expiry close")).code).toBe(CloseCode.tokenExpired);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
  });

  it("updates the listed channels and info with the refreshed claims", async () => {
    const { client } = await connected(await sign({ sub: "alice", channels: [] }), {
      namespaces: { vip: { subscribe: "listed", presence: true } },
    });
    expect(await client.fails("subscribe", { channel: "vip:gold" })).toMatchObject({ code: ErrorCode.unauthorized });
    await client.ok("refresh", { token: await sign({ sub: "alice", channels: ["vip:*"], info: { tier: "gold" } }) });
    await client.ok("subscribe", { channel: "vip:gold" });
    const { clients } = await client.ok<{ clients: Record<string, { info?: unknown }> }>("presence", {
      channel: "vip:gold",
    });
    expect(Object.values(clients).map((c) => c.info)).toEqual([{ tier: "gold" }]);
  });

  it("refuses refresh from an anonymous connection, and on a node without token keys", async () => {
    const { wsUrl } = await cluster.node({ namespaces: { open: {} }, tokenHmacSecret: TEST_SECRET });
    const anonymous = await cluster.client(wsUrl);
    expect(await anonymous.fails("refresh", { token: await sign({ sub: "alice" }) })).toMatchObject({
      code: ErrorCode.unauthorized,
    });
    const { wsUrl: plainUrl } = await cluster.node({ namespaces: { open: {} } });
    const plain = await cluster.client(plainUrl);
    expect(await plain.fails("refresh", { token: "t" })).toMatchObject({ code: ErrorCode.notAvailable });
  });

  it("applies expiresAt from an authenticate hook, and refresh asks the hook again", async () => {
    const { wsUrl } = await cluster.node(
      { namespaces: { open: {} }, ...FAST_SWEEP },
      {
        authenticate: ({ token }) =>
          Promise.resolve(token === undefined ? null : { user: "hooked", expiresAt: Date.now() + Number(token) }),
      },
    );
    const client = await cluster.client(wsUrl, false);
    const { expiresAt } = await client.ok<{ expiresAt: number }>("connect", { token: "400" });
    const fresh = await client.ok<{ expiresAt: number }>("refresh", { token: "1500" });
    expect(fresh.expiresAt).toBeGreaterThan(expiresAt);
    await pingAfter(client, expiresAt + 200, 3_000);
    expect((await withTimeout(client.closed, 4_000, "the expiry close")).code).toBe(CloseCode.tokenExpired);
  });
});
