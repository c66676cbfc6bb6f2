import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { TestCluster } from "../../../../test/support/nodes.js";
import { TEST_APP, connected, pusherClient, serverSdk } from "../../../../test/support/pusher.js";

const cluster = new TestCluster();
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await cluster.cleanup();
});

/** A raw Pusher-protocol socket that records what it receives and how it closed. */
async function raw(
  port: number,
): Promise<{ ws: WebSocket; messages: { event: string; data?: string }[]; closed: Promise<number> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${TEST_APP.key}?protocol=7`);
  sockets.push(ws);
  const messages: { event: string; data?: string }[] = [];
  ws.on("message", (data) => messages.push(JSON.parse(String(data))));
  const closed = new Promise<number>((resolve) => ws.on("close", resolve));
  await expect.poll(() => messages.length).toBe(1);
  return { ws, messages, closed };
}

describe("a Pusher connection never takes the node down with its input", () => {
  it("answers malformed, mistyped and oversized messages with pusher:error or a subscription error, and keeps serving", async () => {
    const { node } = await cluster.node({ pusherApps: [TEST_APP], maxSubscriptionsPerConnection: 3 });
    const port = node.address.port;
    const { ws, messages } = await raw(port);
    const deep = `${"[".repeat(10_000)}${"]".repeat(10_000)}`;
    const hostile: string[] = [
      "{",
      "[]",
      '"a string"',
      "null",
      JSON.stringify({ event: 5 }),
      JSON.stringify({ event: "pusher:subscribe" }),
      JSON.stringify({ event: "pusher:subscribe", data: "{not json" }),
      JSON.stringify({ event: "pusher:subscribe", data: { channel: 123 } }),
      JSON.stringify({ event: "pusher:subscribe", data: { channel: "a b" } }),
      JSON.stringify({ event: "pusher:subscribe", data: { channel: "x".repeat(200) } }),
      JSON.stringify({ event: "pusher:subscribe", data: { channel: "private-x", auth: 42 } }),
      JSON.stringify({ event: "pusher:subscribe", data: { channel: "presence-x", auth: "k:sig", channel_data: deep } }),
      `{"event":"pusher:subscribe","data":${deep}}`,
      `{"event":"client-x","channel":"private-x","data":${deep}}`,
      JSON.stringify({ event: "client-x", channel: "news", data: {} }),
      JSON.stringify({ event: "pusher:unsubscribe", data: { channel: "never-subscribed" } }),
      JSON.stringify({ event: "no-such-event" }),
      ...["a", "b", "c", "d"].map((c) => JSON.stringify({ event: "pusher:subscribe", data: { channel: c } })),
    ];
    for (const text of hostile) ws.send(text);
    ws.send(JSON.stringify({ event: "pusher:ping", data: {} }));
    // Subscribes settle after the pong (they wait for the engine): wait for all of them.
    await expect.poll(() => messages.some((m) => m.event === "pusher:pong")).toBe(true);
    await expect
      .poll(() => messages.filter((m) => m.event === "pusher_internal:subscription_succeeded").length)
      .toBe(3);
    await expect.poll(() => messages.some((m) => m.data?.includes('"status":429'))).toBe(true);
    const errors = messages.filter((m) => m.event === "pusher:error" || m.event === "pusher:subscription_error");
    expect(errors.length).toBeGreaterThanOrEqual(hostile.length - 4); // the four last subscribes: three succeed
    expect(messages.filter((m) => m.event === "pusher_internal:subscription_succeeded")).toHaveLength(3);
    // The node serves others as before.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const other = pusherClient(port, serverSdk(port));
    await connected(other);
    other.disconnect();
  });

  it("refuses an upgrade whose path cannot be read with 400, and one without a key with 404", async () => {
    const { node } = await cluster.node({ pusherApps: [TEST_APP] });
    const status = (path: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${node.address.port}${path}`);
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.on("open", () => reject(new Error(`${path} was accepted`)));
        ws.on("error", () => undefined);
      });
    expect(await status("/app/%E0%A4%A?protocol=7")).toBe(400);
    expect(await status("/app/?protocol=7")).toBe(404);
    expect(await status("/app/a/b?protocol=7")).toBe(404);
  });

  it("closes a connection that floods past the rate limit, and one whose sign-in is forged (4009)", async () => {
    const { node } = await cluster.node({
      pusherApps: [TEST_APP],
      commandRatePerSecond: 20,
      commandBurst: 20,
      maxRateLimitedCommands: 5,
    });
    const port = node.address.port;
    const flood = await raw(port);
    for (let i = 0; i < 200; i += 1) flood.ws.send(JSON.stringify({ event: "pusher:ping", data: {} }));
    expect(await flood.closed).toBe(4100);
    const forged = await raw(port);
    forged.ws.send(
      JSON.stringify({ event: "pusher:signin", data: { auth: `${TEST_APP.key}:00`, user_data: '{"id":"admin"}' } }),
    );
    expect(await forged.closed).toBe(4009);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it("holds a signed-in user to maxConnectionsPerUser: the sign-in past it closes (4100)", async () => {
    const { node } = await cluster.node({ pusherApps: [TEST_APP], maxConnectionsPerUser: 1 });
    const port = node.address.port;
    const sdk = serverSdk(port);
    const first = pusherClient(port, sdk, { id: "ann" });
    const second = pusherClient(port, sdk, { id: "ann" });
    try {
      await Promise.all([connected(first), connected(second)]);
      first.signin();
      await expect.poll(() => first.user.user_data?.id).toBe("ann");
      const closed = new Promise<unknown>((resolve) => second.connection.bind("error", resolve));
      second.signin();
      expect(await closed).toMatchObject({ data: { code: 4100 } });
    } finally {
      first.disconnect();
      second.disconnect();
    }
  });
});
