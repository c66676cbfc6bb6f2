import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import Pusher from "pusher";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { ChannelAttribute, ChannelInfo, PusherApiBackend, PusherEventInput } from "./api-backend.js";
import { PusherApiError } from "./api-backend.js";
import type { ResolvedPusherApp } from "./apps.js";
import { resolvePusherApps } from "./apps.js";
import { createPusherApiHandler } from "./http-api.js";

const SECRET = "app-secret-0123";
const MAX_BODY_BYTES = 65_536;
const APPS = resolvePusherApps([
  { id: "1", key: "app-key", secret: SECRET },
  { id: "2", key: "off-key", secret: SECRET, enabled: false },
  { id: "3", key: "small-key", secret: SECRET, maxEventBytes: 100 },
]);

interface Call {
  op: keyof PusherApiBackend;
  app: string;
  args: unknown[];
}

/** Answers from a fixed little world and records every call; `failure` makes the next call throw. */
class RecordingBackend implements PusherApiBackend {
  calls: Call[] = [];
  failure: Error | undefined;

  private record(op: keyof PusherApiBackend, app: ResolvedPusherApp, ...args: unknown[]): void {
    this.calls.push({ op, app: app.id, args });
    const failure = this.failure;
    this.failure = undefined;
    if (failure !== undefined) throw failure;
  }

  trigger(app: ResolvedPusherApp, event: PusherEventInput): Promise<Record<string, ChannelInfo> | undefined> {
    this.record("trigger", app, event);
    if (event.info === undefined) return Promise.resolve(undefined);
    return Promise.resolve(
      Object.fromEntries(event.channels.map((channel) => [channel, { user_count: 2, subscription_count: 3 }])),
    );
  }

  channels(
    app: ResolvedPusherApp,
    query: { prefix: string; userCount: boolean },
  ): Promise<Record<string, { user_count?: number }>> {
    this.record("channels", app, query);
    const world: Record<string, number> = { "presence-a": 2, "presence-b": 1, "public-1": 0 };
    const found = Object.entries(world).filter(([name]) => name.startsWith(query.prefix));
    return Promise.resolve(
      Object.fromEntries(found.map(([name, users]) => [name, query.userCount ? { user_count: users } : {}])),
    );
  }

  channel(app: ResolvedPusherApp, name: string, info: readonly ChannelAttribute[]): Promise<ChannelInfo> {
    this.record("channel", app, name, info);
    const cache = name.startsWith("cache-with") ? { cache: { data: '{"last":1}', ttl: 30 } } : {};
    return Promise.resolve({ occupied: true, user_count: 2, subscription_count: 3, ...cache });
  }

  users(app: ResolvedPusherApp, channel: string): Promise<{ id: string }[]> {
    this.record("users", app, channel);
    return Promise.resolve([{ id: "u1" }, { id: "u2" }]);
  }

  terminateUserConnections(app: ResolvedPusherApp, userId: string): Promise<void> {
    this.record("terminateUserConnections", app, userId);
    return Promise.resolve();
  }
}

const backend = new RecordingBackend();
const logs: string[] = [];
let server: Server;
let base: string;
let port: string;
let sdk: Pusher;

/** Serves `handle` on a free loopback port. */
async function listen(handle: ReturnType<typeof createPusherApiHandler>): Promise<{ server: Server; port: string }> {
  const server = createServer((req, res) => handle(req, res, (req.url ?? "/").split("?", 1)[0] ?? "/"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: String((server.address() as AddressInfo).port) };
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
}

beforeAll(async () => {
  const logger = pino({ level: "info" }, { write: (line: string) => void logs.push(line) });
  ({ server, port } = await listen(
    createPusherApiHandler({ apps: APPS, backend, logger, maxBodyBytes: MAX_BODY_BYTES }),
  ));
  base = `http://127.0.0.1:${port}`;
  sdk = sdkFor("1", "app-key");
});

afterAll(() => stop(server));

beforeEach(() => {
  backend.calls = [];
  backend.failure = undefined;
  logs.length = 0;
});

const sdkFor = (appId: string, key: string, secret = SECRET, at = port): Pusher =>
  new Pusher({ appId, key, secret, host: "127.0.0.1", port: at });

/** What the SDK's promise rejected with: Pusher's RequestError carries the status and the body. */
async function refusal(request: Promise<unknown>): Promise<{ status: number | undefined; body: string | undefined }> {
  try {
    await request;
  } catch (err) {
    if (!(err instanceof Pusher.RequestError)) throw err;
    return { status: err.status, body: err.body };
  }
  throw new Error("the request was expected to be refused");
}

/** A POST signed by the SDK for `signedBody`, sending `sentBody` (the same unless a test tampers). */
async function signedPost(path: string, signedBody: string, sentBody = signedBody) {
  const query = sdk.createSignedQueryString({ method: "POST", path, body: signedBody });
  const res = await fetch(`${base}${path}?${query}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: sentBody,
  });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

/** `sdk.post` JSON-encodes its body itself (its typing says string): lets a test send what the SDK would refuse. */
const postObject = (client: Pusher, path: string, body: object) =>
  client.post({ path, body: body as unknown as string });

describe("Pusher HTTP API, driven by the pusher SDK", () => {
  it("triggers an event to one channel: {} and the backend gets the data as a string", async () => {
    const res = await sdk.trigger("my-channel", "my-event", { hello: "world" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({});
    expect(backend.calls).toEqual([
      { op: "trigger", app: "1", args: [{ channels: ["my-channel"], name: "my-event", data: '{"hello":"world"}' }] },
    ]);
  });

  it("triggers to several channels excluding a socket, answering the info asked per channel", async () => {
    const res = await sdk.trigger(["presence-room", "news", "news"], "e", "plain text", {
      socket_id: "123.456",
      info: "user_count,subscription_count",
    });
    // user_count is a presence attribute: the public channel gets only its subscription_count.
    expect(await res.json()).toEqual({
      channels: { "presence-room": { user_count: 2, subscription_count: 3 }, news: { subscription_count: 3 } },
    });
    expect(backend.calls[0]?.args[0]).toEqual({
      channels: ["presence-room", "news"],
      name: "e",
      data: "plain text",
      socketId: "123.456",
      info: ["user_count", "subscription_count"],
    });
  });

  it("sends to a user through #server-to-user-<id> (sendToUser)", async () => {
    await sdk.sendToUser("user-7", "notice", { n: 1 });
    expect(backend.calls[0]?.args[0]).toMatchObject({ channels: ["#server-to-user-user-7"], name: "notice" });
  });

  it("triggers a batch in order: {} without info, per-entry attributes with it", async () => {
    const plain = await sdk.triggerBatch([
      { channel: "a", name: "one", data: "1" },
      { channel: "b", name: "two", data: { two: 2 } },
    ]);
    expect(await plain.json()).toEqual({});
    expect(backend.calls.map((call) => (call.args[0] as PusherEventInput).name)).toEqual(["one", "two"]);

    const withInfo = await sdk.triggerBatch([
      { channel: "presence-x", name: "one", data: "1", info: "user_count" },
      { channel: "b", name: "two", data: "2" },
      { channel: "c", name: "three", data: "3", info: "subscription_count", socket_id: "1.2" },
    ]);
    expect(await withInfo.json()).toEqual({ batch: [{ user_count: 2 }, {}, { subscription_count: 3 }] });
  });

  it("lists channels by prefix, with user_count for presence ones", async () => {
    const all = await sdk.get({ path: "/channels" });
    expect(await all.json()).toEqual({ channels: { "presence-a": {}, "presence-b": {}, "public-1": {} } });
    const presence = await sdk.get({
      path: "/channels",
      params: { filter_by_prefix: "presence-", info: "user_count" },
    });
    expect(await presence.json()).toEqual({
      channels: { "presence-a": { user_count: 2 }, "presence-b": { user_count: 1 } },
    });
    expect(backend.calls[1]?.args[0]).toEqual({ prefix: "presence-", userCount: true });
  });

  it("reads one channel: occupied always, the attributes asked, cache as data or null", async () => {
    const presence = await sdk.get({ path: "/channels/presence-x", params: { info: "user_count,subscription_count" } });
    expect(await presence.json()).toEqual({ occupied: true, user_count: 2, subscription_count: 3 });
    const bare = await sdk.get({ path: "/channels/news" });
    expect(await bare.json()).toEqual({ occupied: true });
    const cached = await sdk.get({ path: "/channels/cache-with-data", params: { info: "cache" } });
    expect(await cached.json()).toEqual({ occupied: true, cache: { data: '{"last":1}', ttl: 30 } });
    const empty = await sdk.get({ path: "/channels/private-cache-empty", params: { info: "cache" } });
    expect(await empty.json()).toEqual({ occupied: true, cache: null });
  });

  it("lists the users of a presence channel", async () => {
    const res = await sdk.get({ path: "/channels/presence-x/users" });
    expect(await res.json()).toEqual({ users: [{ id: "u1" }, { id: "u2" }] });
  });

  it("terminates a user's connections", async () => {
    const res = await sdk.terminateUserConnections("user-7");
    expect(await res.json()).toEqual({});
    expect(backend.calls).toEqual([{ op: "terminateUserConnections", app: "1", args: ["user-7"] }]);
  });
});

describe("Pusher HTTP API refusals, as Pusher answers them: the status and a plain-text message", () => {
  it("401 for a wrong secret, saying what should have been signed", async () => {
    const answer = await refusal(sdkFor("1", "app-key", "wrong-secret").trigger("c", "e", "d"));
    expect(answer.status).toBe(401);
    expect(answer.body).toMatch(/^Invalid signature: you should have sent HmacSHA256Hex\("POST\\n\/apps\/1\/events\\n/);
    expect(answer.body?.endsWith("\n")).toBe(true);
    expect(backend.calls).toEqual([]);
  });

  it("401 for a request without authentication parameters", async () => {
    const res = await fetch(`${base}/apps/1/channels`);
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await res.text()).toBe("Missing parameter: auth_key\n");
  });

  it("401 for an unknown key, and for a timestamp 600 s or more away", async () => {
    expect(await refusal(sdkFor("1", "not-the-key").trigger("c", "e", "d"))).toEqual({
      status: 401,
      body: "Unknown auth_key\n",
    });
    const stale = vi.spyOn(Date, "now").mockReturnValue(Date.now() - 700_000);
    const request = sdk.trigger("c", "e", "d"); // signs now, at the mocked clock
    stale.mockRestore();
    const answer = await refusal(request);
    expect(answer.status).toBe(401);
    expect(answer.body).toMatch(/^Timestamp expired: Given timestamp \(.+\) not within 600s of server time \(.+\)\n$/);
  });

  it("401 when the body is not the one body_md5 was signed for", async () => {
    const signed = JSON.stringify({ name: "e", channel: "c", data: "d" });
    const answer = await signedPost("/apps/1/events", signed, signed.replace('"d"', '"x"'));
    expect(answer.status).toBe(401);
    expect(answer.type).toMatch(/^text\/plain/);
    expect(answer.text).toBe("Invalid body_md5: it is not the hex MD5 of the body that was sent\n");
    expect(backend.calls).toEqual([]);
  });

  it("404 for an unknown app id and for an unknown endpoint; 405 for the wrong method", async () => {
    expect(await refusal(sdkFor("99", "app-key").trigger("c", "e", "d"))).toEqual({
      status: 404,
      body: "Unknown app: no app has the id '99'\n",
    });
    expect((await refusal(sdk.get({ path: "/nothing" }))).status).toBe(404);
    const res = await fetch(`${base}/apps/1/events`);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });

  it("403 for a disabled app, once the request is authenticated", async () => {
    expect(await refusal(sdkFor("2", "off-key").trigger("c", "e", "d"))).toEqual({
      status: 403,
      body: "Forbidden: this app is disabled\n",
    });
    expect((await refusal(sdkFor("2", "off-key", "wrong-secret").trigger("c", "e", "d"))).status).toBe(401);
  });

  it("413 for event data over the app's maxEventBytes, and for a body over maxBodyBytes", async () => {
    const small = sdkFor("3", "small-key");
    await small.trigger("c", "e", "x".repeat(100));
    const answer = await refusal(small.trigger("c", "e", "x".repeat(101)));
    expect(answer).toEqual({
      status: 413,
      body: "Payload too large: the event data is 101 bytes; this app allows at most 100\n",
    });
    expect((await refusal(small.triggerBatch([{ channel: "c", name: "e", data: "é".repeat(51) }]))).status).toBe(413);
    const huge = JSON.stringify({ name: "e", channel: "c", data: "x".repeat(MAX_BODY_BYTES) });
    const tooBig = await signedPost("/apps/1/events", huge);
    expect(tooBig.status).toBe(413);
    expect(tooBig.text).toMatch(/^Payload too large: the request body is larger than 65536 bytes/);
  });

  it("400 for what the SDK would refuse to send: channels, names, socket ids, data", async () => {
    const cases: [object, RegExp][] = [
      [{ name: "e", data: "d", channels: Array.from({ length: 101 }, (_, i) => `c${i}`) }, /^Too many channels: 101/],
      [{ name: "e", data: "d", channel: "bad name" }, /^Invalid channel name: 'bad name'/],
      [{ name: "e", data: "d", channel: "c".repeat(165) }, /^Channel name too long/],
      [{ name: "e", data: "d", channel: "#other" }, /^Invalid channel name/],
      [{ name: "e", data: "d", channel: "c", socket_id: "abc" }, /^Invalid socket id: 'abc'/],
      [{ name: "e", data: { not: "a string" }, channel: "c" }, /^Expected data parameter to be a string\n$/],
      [{ name: 7, data: "d", channel: "c" }, /^Expected name parameter to be a string\n$/],
      [{ name: "e".repeat(201), data: "d", channel: "c" }, /^Event name too long/],
      [{ name: "e", data: "d" }, /^Missing parameter: channels/],
      [{ name: "e", data: "d", channel: "c", info: "occupied" }, /^Unknown info attribute 'occupied'/],
      [{ name: "e", data: "d", channels: ["private-encrypted-a", "b"] }, /^An event to an encrypted channel/],
    ];
    for (const [body, message] of cases) {
      const answer = await refusal(postObject(sdk, "/events", body));
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body, JSON.stringify(body)).toMatch(message);
    }
    const batch = Array.from({ length: 11 }, () => ({ channel: "c", name: "e", data: "d" }));
    expect(await refusal(postObject(sdk, "/batch_events", { batch }))).toEqual({
      status: 400,
      body: "Too many events in a batch: 11; a batch may carry at most 10\n",
    });
    const badEntry = await refusal(
      sdk.triggerBatch([
        { channel: "c", name: "e", data: "d" },
        { channel: "c!", name: "e", data: "d" },
      ]),
    );
    expect(badEntry.body).toMatch(/^batch\[1\]: Invalid channel name: 'c!'/);
    expect(backend.calls).toEqual([]); // a batch is checked whole before anything is published
  });

  it("400 for a body that is not JSON", async () => {
    const answer = await signedPost("/apps/1/events", "{not json");
    expect(answer.status).toBe(400);
    expect(answer.text).toMatch(/^The body is not valid JSON/);
  });

  it("400 for user_count without a presence prefix, and for users of a channel that is not presence", async () => {
    expect(await refusal(sdk.get({ path: "/channels", params: { info: "user_count" } }))).toEqual({
      status: 400,
      body: "info=user_count is only for presence channels: add filter_by_prefix=presence-\n",
    });
    expect((await refusal(sdk.get({ path: "/channels/news", params: { info: "user_count" } }))).status).toBe(400);
    expect((await refusal(sdk.get({ path: "/channels/news", params: { info: "cache" } }))).status).toBe(400);
    const users = await refusal(sdk.get({ path: "/channels/private-x/users" }));
    expect(users.status).toBe(400);
    expect(users.body).toMatch(/^Only presence channels have users/);
    // The SDK signs the path unescaped and its URL escapes the space: the decoded path is checked.
    expect(await refusal(sdk.get({ path: "/channels/bad name" }))).toMatchObject({
      status: 400,
      body: expect.stringMatching(/^Invalid channel name: 'bad name'/) as unknown,
    });
    expect(backend.calls).toEqual([]);
  });

  it("answers a backend's PusherApiError with its status, and 500 for any other throw, then serves on", async () => {
    backend.failure = new PusherApiError(503, "Service unavailable: the cluster is not reachable");
    expect(await refusal(sdk.trigger("c", "e", "d"))).toEqual({
      status: 503,
      body: "Service unavailable: the cluster is not reachable\n",
    });
    backend.failure = new Error("boom");
    expect(await refusal(sdk.trigger("c", "e", "d"))).toEqual({
      status: 500,
      body: "Internal server error; see the server's log\n",
    });
    expect(logs.some((line) => line.includes("Pusher API request failed unexpectedly") && line.includes("boom"))).toBe(
      true,
    );
    const next = await sdk.trigger("c", "e", "d");
    expect(next.status).toBe(200);
  });
});

describe("Pusher HTTP API limits", () => {
  it("refuses a maxBodyBytes that is not a positive integer", () => {
    const logger = pino({ level: "silent" });
    expect(() => createPusherApiHandler({ apps: APPS, backend, logger, maxBodyBytes: 0 })).toThrow(/maxBodyBytes/);
  });

  it("reads by default a full batch of the largest app's events, each escaped to twice its size", async () => {
    const apps = resolvePusherApps([{ id: "big", key: "big-key", secret: SECRET, maxEventBytes: 100_000 }]);
    const logger = pino({ level: "silent" });
    const big = await listen(createPusherApiHandler({ apps, backend, logger }));
    try {
      // Quotes JSON-escape to two bytes: a body of about 2 MB, over the 1 MiB floor.
      const batch = Array.from({ length: 10 }, (_, i) => ({ channel: "c", name: `e${i}`, data: '"'.repeat(100_000) }));
      const res = await sdkFor("big", "big-key", SECRET, big.port).triggerBatch(batch);
      expect(await res.json()).toEqual({});
      expect(backend.calls).toHaveLength(10);
    } finally {
      await stop(big.server);
    }
  });
});
