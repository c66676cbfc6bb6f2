import { request } from "node:http";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EmulatedClient } from "../../../../test/support/emulated-client.js";
import { eventually } from "../../../../test/support/eventually.js";
import { parseSamples, sample } from "../../../../test/support/scrape.js";
import type { Frame } from "../../../../test/support/emulated-client.js";
import { TEST_NAMESPACES, TestCluster } from "../../../../test/support/nodes.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { createNode } from "../node.js";
import type { HubcastNode } from "../node.js";

// The two-way emulation against real nodes, spoken by hand with fetch: the stream is read as
// a browser's fetch reads it, and frames go up by POST, to the stream's node or to another.

const cluster = new TestCluster();
const opened: EmulatedClient[] = [];
const extraNodes: HubcastNode[] = [];
afterEach(async () => {
  for (const client of opened.splice(0)) client.close();
  await Promise.all(extraNodes.splice(0).map((node) => node.close()));
  await cluster.cleanup();
});

async function emulated(baseUrl: string, connect?: Frame): Promise<EmulatedClient> {
  const client = await EmulatedClient.open(baseUrl, connect);
  opened.push(client);
  return client;
}

const httpUrl = (node: HubcastNode): string => node.address.url;

/** A node on Redis (which connects before the node exists, hence createNode), closed after the test. */
async function redisNode(redisUrl: string): Promise<HubcastNode> {
  const node = await createNode({
    port: 0,
    logLevel: "silent",
    demo: false,
    namespaces: TEST_NAMESPACES,
    engine: "redis",
    redisUrl,
  });
  extraNodes.push(node);
  await node.start();
  return node;
}
const publish = (node: HubcastNode, channel: string, data: unknown) =>
  node.api.publish(channel, new TextEncoder().encode(JSON.stringify(data)));

describe("two-way emulation over HTTP", () => {
  it("speaks the protocol: connect, subscribe, receive, publish, and pongs that keep it alive", async () => {
    const { node } = await cluster.node({ pingIntervalMs: 300, pongTimeoutMs: 200 });
    const client = await emulated(httpUrl(node));
    const connected = await client.waitFor((f) => f["id"] === 1, "the connect reply");
    expect(connected["connect"]).toMatchObject({ version: 1, pingIntervalMs: 300 });
    expect(client.stream).toMatch(new RegExp(`^${node.id}\\.[\\w-]{32}$`));
    const metrics = parseSamples(await (await fetch(`${httpUrl(node)}/metrics`)).text());
    expect(sample(metrics, 'hubcast_transport_connections{transport="http-stream"}')).toBe(1);
    expect(sample(metrics, 'hubcast_connections_total{transport="http-stream"}')).toBe(1);

    expect(await client.command("subscribe", { channel: "chat:room" })).toHaveProperty("subscribe");
    await publish(node, "chat:room", { n: 1 });
    await client.waitFor((f) => (f["publication"] as Frame | undefined)?.["offset"] === 1, "the publication");
    const published = await client.command("publish", { channel: "chat:room", data: { n: 2 } });
    expect(published["publish"]).toEqual({ position: { offset: 2, epoch: expect.any(String) } });

    // Answer every ping by POST for a while: the connection outlives several pong deadlines.
    let answered = 0;
    const deadline = Date.now() + 1_500;
    while (Date.now() < deadline) {
      const pings = client.frames.filter((f) => f["ping"] !== undefined).length;
      if (pings > answered) {
        answered = pings;
        expect(await client.send([{ pong: {} }])).toBe(204);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(answered).toBeGreaterThanOrEqual(3);
    expect(client.ended).toBe(false);
    expect(client.frames.some((f) => f["disconnect"] !== undefined)).toBe(false);
  });

  it("ends a connection that does not answer pings with no_pong, like a WebSocket client", async () => {
    const { node } = await cluster.node({ pingIntervalMs: 150, pongTimeoutMs: 100 });
    const client = await emulated(httpUrl(node));
    const disconnect = await client.waitFor((f) => f["disconnect"] !== undefined, "the disconnect push");
    expect(disconnect["disconnect"]).toMatchObject({ code: 3002, reconnect: true });
    await eventually(() => client.ended, 5_000, "the stream to end");
  });

  it("also streams as Server-Sent Events for an EventSource, with connect in the query", async () => {
    const { node } = await cluster.node();
    const connect = encodeURIComponent(JSON.stringify({ id: 1, connect: {} }));
    const abort = new AbortController();
    try {
      const res = await fetch(`${httpUrl(node)}/emulation?connect=${connect}`, { signal: abort.signal });
      expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      let text = "";
      while (!text.includes('"connect"')) text += new TextDecoder().decode((await reader.read()).value);
      const events = text.split("\n\n").filter((e) => e !== "");
      expect(events[0]).toMatch(/^data: \{"emulation":\{"stream":"[^"]+"\}\}$/);
      expect(events[1]).toMatch(/^data: \{"id":1,"connect":\{"client":/);
    } finally {
      abort.abort();
    }
  });

  it("takes POSTs on another node: forwarded through Redis to the stream's node", async () => {
    const redis = await RedisServer.start();
    try {
      const a = await redisNode(redis.url);
      const b = await redisNode(redis.url);
      const client = await emulated(httpUrl(a));
      await client.waitFor((f) => f["id"] === 1, "the connect reply");
      // Every command goes to B; every reply comes down A's stream.
      const subscribe = await client.command("subscribe", { channel: "chat:room" }, httpUrl(b));
      expect(subscribe).toHaveProperty("subscribe");
      expect(await client.send([{ id: 50, publish: { channel: "chat:room", data: { via: "b" } } }], httpUrl(b))).toBe(
        202,
      );
      await client.waitFor((f) => f["id"] === 50, "the publish reply");
      await client.waitFor((f) => (f["publication"] as Frame | undefined)?.["data"] !== undefined, "the publication");
      // A stream B does not know of (it names a node that is not this one) is still forwarded;
      // one that names B itself but is not there is a 404.
      const unknownHere = `${b.id}.${"x".repeat(32)}`;
      const res = await fetch(`${httpUrl(b)}/emulation/send`, {
        method: "POST",
        body: JSON.stringify({ stream: unknownHere, frames: [{ pong: {} }] }),
      });
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
    } finally {
      for (const client of opened.splice(0)) client.close();
      await Promise.all(extraNodes.splice(0).map((node) => node.close()));
      await redis.stop();
    }
  });

  it("refuses malformed sends with the API's error codes, and counts POSTed frames against the rate limit", async () => {
    const { node } = await cluster.node({ commandRatePerSecond: 5, commandBurst: 5 });
    const client = await emulated(httpUrl(node));
    const post = async (body: string): Promise<[number, unknown]> => {
      const res = await fetch(`${httpUrl(node)}/emulation/send`, { method: "POST", body });
      return [res.status, await res.json()];
    };
    expect(await post("not json")).toEqual([400, { error: { code: "bad_request", message: expect.any(String) } }]);
    expect((await post(JSON.stringify({ stream: "nope", frames: [{}] })))[0]).toBe(400);
    const many = Array.from({ length: 65 }, () => ({ pong: {} }));
    expect((await post(JSON.stringify({ stream: client.stream, frames: many })))[0]).toBe(400);
    const big = { id: 9, publish: { channel: "chat:room", data: "x".repeat(70_000) } };
    expect((await post(JSON.stringify({ stream: client.stream, frames: [big] })))[0]).toBe(413);

    const burst = Array.from({ length: 12 }, (_, i) => ({ id: 100 + i, presence: { channel: "chat:room" } }));
    expect(await client.send(burst)).toBe(204);
    const limited = await client.waitFor(
      (f) => (f["error"] as Frame | undefined)?.["code"] === 112,
      "a too_many_requests reply",
    );
    expect(limited["id"]).toBeGreaterThanOrEqual(100);
  });

  it("is asked to reconnect elsewhere on drain, like a WebSocket client, and refused while draining", async () => {
    const { node } = await cluster.node({ drainWindowMs: 200 });
    const client = await emulated(httpUrl(node));
    await client.waitFor((f) => f["id"] === 1, "the connect reply");
    const draining = node.drain();
    const disconnect = await client.waitFor((f) => f["disconnect"] !== undefined, "the disconnect push");
    expect(disconnect["disconnect"]).toMatchObject({ reconnect: true });
    await eventually(() => client.ended, 5_000, "the stream to end");
    await draining;
  });

  it("answers 413 to a body that grows too large while it streams in (no Content-Length), and 429 past the per-address limit", async () => {
    const { node } = await cluster.node({ maxMessageBytes: 1_024, maxConnectionsPerIp: 1 });
    const client = await emulated(httpUrl(node));
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${httpUrl(node)}/emulation/send`, { method: "POST", agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      // Chunked: the limit (64 frames of maxMessageBytes) is only found while reading.
      req.write(JSON.stringify({ stream: client.stream, frames: [{ pong: {} }] }).slice(0, -2));
      req.write(`,${"x".repeat(70_000)}`);
      req.end();
    });
    expect(status).toBe(413);
    const second = await fetch(`${httpUrl(node)}/emulation`, {
      method: "POST",
      body: JSON.stringify({ id: 1, connect: {} }),
    });
    expect(second.status).toBe(429);
    expect(await second.json()).toMatchObject({ error: { code: "too_many_connections" } });
  });

  it("drops a POST whose body never ends at requestTimeoutMs, and serves others meanwhile", async () => {
    const { node } = await cluster.node({ headersTimeoutMs: 500, requestTimeoutMs: 1_000 });
    const { port } = node.address;
    const socket = connect(port, "127.0.0.1");
    const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
    // The trickle writes until the close is seen; one racing the node's close fails with EPIPE, as expected.
    const failures: string[] = [];
    socket.on("error", (err: NodeJS.ErrnoException) => failures.push(err.code ?? err.message));
    const started = Date.now();
    socket.write('POST /emulation/send HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"stream":');
    const trickle = setInterval(() => socket.write(" "), 100);
    try {
      const client = await emulated(httpUrl(node));
      await client.waitFor((f) => f["id"] === 1, "another client's connect reply");
      const at = await closed;
      expect(at - started).toBeLessThan(5_000);
      expect(failures.filter((code) => code !== "EPIPE" && code !== "ECONNRESET")).toEqual([]);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });

  it("refuses a page on an origin the node does not allow, before streaming", async () => {
    const { node } = await cluster.node({ allowedOrigins: "https://app.example" });
    const res = await fetch(`${httpUrl(node)}/emulation`, {
      method: "POST",
      headers: { Origin: "https://evil.example" },
      body: JSON.stringify({ id: 1, connect: {} }),
    });
    expect(res.status).toBe(403);
    const preflight = await fetch(`${httpUrl(node)}/emulation/send`, {
      method: "OPTIONS",
      headers: { Origin: "https://app.example", "Access-Control-Request-Method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example");
  });
});
