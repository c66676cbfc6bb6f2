import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { SignJWT } from "jose";
import { pino } from "pino";
import type { Logger } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "../../../test/support/nodes.js";
import { RedisServer } from "../../../test/support/redis.js";
import { createNode } from "./node.js";
import type { HubcastNode } from "./node.js";
import { resolveNodeOptions } from "./options.js";

const cluster = new TestCluster();
const API_KEY = "metrics-test-api-key-0123456789";
afterEach(() => cluster.cleanup());

/** Scrapes `/metrics`: each sample keyed exactly as printed, `name{label="value"}`. */
async function scrape(httpUrl: string): Promise<Map<string, number>> {
  const res = await fetch(`${httpUrl}/metrics`);
  expect(res.status).toBe(200);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

/** One sample's value; fails when the series is missing. */
function sample(samples: Map<string, number>, key: string): number {
  const value = samples.get(key);
  if (value === undefined) throw new Error(`no sample ${key} in the scrape`);
  return value;
}

/** Re-checks `check` every 20 ms until it holds, failing after `timeoutMs`. */
async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const apiPublish = (httpUrl: string, channel: string, data: unknown, key = API_KEY): Promise<Response> =>
  fetch(`${httpUrl}/api/publish`, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: JSON.stringify({ channel, data }),
  });

describe("GET /metrics", () => {
  it("counts connections, frames, fan-out, publishes, recoveries and closes exactly", async () => {
    const { node, wsUrl } = await cluster.node({ apiKey: API_KEY });
    const http = node.address.url;
    const [a, b, c] = [await cluster.client(wsUrl), await cluster.client(wsUrl), await cluster.client(wsUrl)];
    const publicationBytes: number[] = [];
    b.ws.on("message", (data: Buffer) => {
      if (data.toString().startsWith('{"publication"'))
        publicationBytes.push(data.length + (data.length < 126 ? 2 : 4)); // + the frame header
    });
    for (const client of [a, b, c]) await client.ok("subscribe", { channel: "small:fan" });

    // A client publish and an API publish, each fanned out to the three subscribers.
    await a.ok("publish", { channel: "small:fan", data: { n: 1 } });
    for (const client of [a, b, c]) await client.waitForPushes("publication", 1, "small:fan");
    const beforeApi = await scrape(http);
    expect((await apiPublish(http, "small:fan", { n: 2 })).status).toBe(200);
    for (const client of [a, b, c]) await client.waitForPushes("publication", 2, "small:fan");
    const afterApi = await scrape(http);
    expect(
      sample(afterApi, 'hubcast_messages_sent_total{type="publication"}') -
        sample(beforeApi, 'hubcast_messages_sent_total{type="publication"}'),
    ).toBe(3);

    // Resubscribe with a position history covers, then with one it cannot.
    const { position } = await a.ok<{ position: { offset: number; epoch: string } }>("subscribe", {
      channel: "small:rec",
    });
    await a.ok("unsubscribe", { channel: "small:rec" });
    expect(await a.ok("subscribe", { channel: "small:rec", since: position })).toMatchObject({ recovered: true });
    expect(await a.ok("subscribe", { channel: "small:other", since: { offset: 3, epoch: "gone" } })).toMatchObject({
      recovered: false,
    });

    // An invalid command with an id gets an error reply; an unparseable frame closes its connection.
    const badCommand = '{"id":99,"bogus":{}}';
    a.send(badCommand);
    await a.waitFor((f) => f["id"] === 99, "the error reply to the bad command");
    const e = await cluster.client(wsUrl);
    e.send("not json");
    expect((await e.closed).code).toBe(3500);
    await eventually(
      async () => sample(await scrape(http), "hubcast_connections") === 3,
      "the closed connection to leave the gauge",
    );

    const m = await scrape(http);
    const commands = 4 /* connect */ + 3 /* subscribe small:fan */ + 1 /* publish */ + 4 /* recovery */;
    expect(publicationBytes).toHaveLength(2);
    const expected: Record<string, number> = {
      'hubcast_connections_total{transport="websocket"}': 4,
      'hubcast_transport_connections{transport="websocket"}': 3,
      hubcast_connections: 3,
      hubcast_subscriptions: 5, // a: fan, rec, other; b and c: fan
      hubcast_channels: 3,
      hubcast_ready: 1,
      hubcast_cluster_peers: 0, // a lone node on the memory engine
      'hubcast_messages_received_total{type="command"}': commands,
      'hubcast_messages_received_total{type="invalid"}': 2,
      'hubcast_bytes_received_total{type="invalid"}': badCommand.length + "not json".length,
      'hubcast_messages_received_total{type="pong"}': 0,
      'hubcast_messages_sent_total{type="reply"}': commands + 1,
      'hubcast_messages_sent_total{type="publication"}': 6,
      'hubcast_bytes_sent_total{type="publication"}': 3 * ((publicationBytes[0] ?? 0) + (publicationBytes[1] ?? 0)),
      'hubcast_messages_sent_total{type="push"}': 1, // the disconnect push before 3500
      'hubcast_messages_sent_total{type="join"}': 0,
      'hubcast_publish_duration_seconds_count{source="client"}': 1,
      'hubcast_publish_duration_seconds_count{source="api"}': 1,
      'hubcast_publish_duration_seconds_bucket{le="1",source="api"}': 1,
      'hubcast_recoveries_total{result="recovered"}': 1,
      'hubcast_recoveries_total{result="not_recovered"}': 1,
      'hubcast_disconnects_total{code="bad_request"}': 1,
      'hubcast_disconnects_total{code="slow_consumer"}': 0,
      'hubcast_auth_failures_total{reason="invalid"}': 0,
      'hubcast_limit_rejections_total{limit="rate"}': 0,
      'hubcast_channel_repairs_total{result="repaired"}': 0,
      hubcast_broker_reconnects_total: 0,
    };
    expect(Object.fromEntries(Object.keys(expected).map((key) => [key, m.get(key)]))).toEqual(expected);
    expect(m.has("hubcast_event_loop_lag_seconds")).toBe(true);
    expect(m.has("hubcast_process_cpu_user_seconds_total")).toBe(true);
  });

  it("counts a no_pong close, the ping before it, and pongs from clients that answer", async () => {
    const { node, wsUrl } = await cluster.node({ pingIntervalMs: 100, pongTimeoutMs: 50 });
    const silent = await cluster.client(wsUrl);
    silent.answerPings = false;
    expect((await silent.closed).code).toBe(3002);
    const m = await scrape(node.address.url);
    expect(sample(m, 'hubcast_disconnects_total{code="no_pong"}')).toBe(1);
    expect(sample(m, 'hubcast_messages_sent_total{type="push"}')).toBe(2); // the ping, then the disconnect push
    const answering = await cluster.client(wsUrl);
    await answering.waitFor((f) => f["ping"] !== undefined, "a ping");
    await eventually(
      async () => sample(await scrape(node.address.url), 'hubcast_messages_received_total{type="pong"}') >= 1,
      "a pong to be counted",
    );
  });

  it("keeps a registry per node: two nodes in one process count separately", async () => {
    const one = await cluster.node();
    const two = await cluster.node();
    await cluster.client(one.wsUrl);
    expect(sample(await scrape(one.node.address.url), 'hubcast_connections_total{transport="websocket"}')).toBe(1);
    expect(sample(await scrape(two.node.address.url), 'hubcast_connections_total{transport="websocket"}')).toBe(0);
  });

  it("serves the Prometheus text format, and answers 404 when metrics are off", async () => {
    const on = await cluster.node();
    const res = await fetch(`${on.node.address.url}/metrics`);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await res.text()).toContain("# HELP hubcast_connections ");
    const off = await cluster.node({ metrics: false });
    const refused = await fetch(`${off.node.address.url}/metrics`);
    expect(refused.status).toBe(404);
    expect(await refused.json()).toEqual({
      error: { code: "not_found", message: expect.stringContaining("metrics are off") },
    });
  });
});

describe("metrics on the redis engine", () => {
  let redis: RedisServer;
  let node: HubcastNode | undefined;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.stop());
  afterEach(async () => {
    await node?.close();
    node = undefined;
  });

  it("counts a pub/sub reconnect after CLIENT KILL TYPE pubsub", async () => {
    const prefix = `t-${randomUUID().slice(0, 8)}`;
    node = await createNode({
      engine: "redis",
      redisUrl: redis.url,
      redisPrefix: prefix,
      port: 0,
      logLevel: "silent",
      demo: false,
    });
    const { url } = await node.start();
    expect(sample(await scrape(url), "hubcast_broker_reconnects_total")).toBe(0);
    await redis.cli("CLIENT", "KILL", "TYPE", "pubsub");
    await eventually(
      async () => sample(await scrape(url), "hubcast_broker_reconnects_total") >= 1,
      "the reconnect to be counted",
      10_000,
    );
    const m = await scrape(url);
    expect(sample(m, "hubcast_broker_reconnects_total")).toBe(1);
    expect(sample(m, "hubcast_broker_errors_total")).toBeGreaterThanOrEqual(1);
  });
});

/** A pino logger at trace writing every line to `lines`. */
function memoryLogger(lines: string[]): Logger {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(
        ...chunk
          .toString()
          .split("\n")
          .filter((line) => line !== ""),
      );
      done();
    },
  });
  return pino({ level: "trace" }, stream);
}

const expectNoSecrets = (lines: readonly string[], secrets: readonly string[]): void => {
  for (const secret of secrets) expect(lines.filter((line) => line.includes(secret))).toEqual([]);
};

describe("auth failures", () => {
  const SECRET = `metrics-test-hmac-secret-${"x".repeat(32)}`;
  const sign = (sub: string, expSeconds: number): Promise<string> =>
    new SignJWT({ sub })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime(expSeconds)
      .sign(new TextEncoder().encode(SECRET));

  it("are counted by reason, and no token reaches the log", async () => {
    const lines: string[] = [];
    const { node, wsUrl } = await cluster.node(
      { tokenHmacSecret: SECRET, allowAnonymous: false },
      { logger: memoryLogger(lines) },
    );
    const now = Math.floor(Date.now() / 1000);
    const [valid, expired, garbage] = [
      await sign("bob", now + 600),
      await sign("bob", now - 3_600),
      `garbage-${randomUUID()}`,
    ];
    const attempt = async (request: Record<string, unknown>): Promise<number> =>
      (await (await cluster.client(wsUrl, false)).fails("connect", request)).code;
    expect(await attempt({})).toBe(101);
    expect(await attempt({ token: garbage })).toBe(101);
    expect(await attempt({ token: expired })).toBe(113);
    await (await cluster.client(wsUrl, false)).ok("connect", { token: valid });
    const m = await scrape(node.address.url);
    expect(sample(m, 'hubcast_auth_failures_total{reason="anonymous_refused"}')).toBe(1);
    expect(sample(m, 'hubcast_auth_failures_total{reason="invalid"}')).toBe(1);
    expect(sample(m, 'hubcast_auth_failures_total{reason="expired"}')).toBe(1);
    expectNoSecrets(lines, [valid, expired, garbage, SECRET]);
    // A JWT's signature alone would leak enough to matter; check it separately.
    expectNoSecrets(lines, [valid.split(".")[2] ?? valid, expired.split(".")[2] ?? expired]);
  });
});

describe("logs", () => {
  it("log every connection's lifecycle at debug and never a token or an API key, even at trace", async () => {
    const lines: string[] = [];
    const token = `secret-token-${randomUUID()}`;
    const wrongToken = `wrong-token-${randomUUID()}`;
    const wrongKey = `wrong-api-key-${randomUUID()}`;
    const authenticate = ({ token: given }: { token: string | undefined }) =>
      Promise.resolve(given === token ? { user: "alice" } : null);
    const { node, wsUrl } = await cluster.node({ apiKey: API_KEY }, { logger: memoryLogger(lines), authenticate });
    const http = node.address.url;

    const alice = await cluster.client(wsUrl, false);
    expect(await alice.ok("connect", { token })).toMatchObject({ version: expect.any(Number) });
    const refused = await cluster.client(wsUrl, false);
    expect(await refused.fails("connect", { token: wrongToken })).toMatchObject({ code: expect.any(Number) });
    expect((await apiPublish(http, "plain:x", 1)).status).toBe(200);
    expect((await apiPublish(http, "plain:x", 1, wrongKey)).status).toBe(401);
    expect((await apiPublish(http, "nope:x", 1)).status).toBe(400);
    await alice.close();
    await eventually(() => lines.some((line) => line.includes('"msg":"connection closed"')), "the close to be logged");

    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.find((e) => e["msg"] === "websocket upgrade accepted")).toMatchObject({
      level: 20,
      subprotocol: "hubcast.v1.json",
      remoteAddress: expect.any(String),
    });
    expect(entries.find((e) => e["msg"] === "client connected")).toMatchObject({ level: 20, user: "alice" });
    expect(entries.find((e) => e["msg"] === "connection closed")).toMatchObject({
      level: 20,
      code: expect.any(Number),
    });
    expectNoSecrets(lines, [token, wrongToken, API_KEY, wrongKey]);
    expect(sample(await scrape(http), 'hubcast_auth_failures_total{reason="invalid"}')).toBe(1); // the hook's refusal
  });

  it("option errors for keys and secrets give the length, never the value", () => {
    const attempts = { apiKey: "has a space in it, 1234", tokenHmacSecret: "too-short-secret" };
    for (const [option, value] of Object.entries(attempts)) {
      let message = "";
      try {
        resolveNodeOptions({ [option]: value });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toContain(`${option}: must be`);
      expect(message).not.toContain(value);
    }
  });
});
