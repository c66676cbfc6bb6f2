import { afterEach, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { ErrorCode } from "@hubcast/protocol";
import { Client } from "./client.js";
import type { ClientState } from "./client-events.js";
import { ClientClosedError, ConnectionClosedError, HubcastError, TimeoutError } from "./errors.js";
import { LocalCode } from "./local-code.js";
import { useHarness } from "../test/harness.js";
import { nextEvent } from "../test/scripted-server.js";

const h = useHarness();

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("Client options", () => {
  it("throws a TypeError naming the bad option", () => {
    const url = "ws://127.0.0.1:1";
    expect(() => new Client(url, { websocket: WebSocket, timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => new Client(url, { websocket: WebSocket, timeoutMs: Number.NaN })).toThrow(TypeError);
    expect(() => new Client(url, { websocket: WebSocket, minReconnectDelayMs: 500, maxReconnectDelayMs: 100 })).toThrow(
      /maxReconnectDelayMs/,
    );
    expect(() => new Client("", { websocket: WebSocket })).toThrow(/url/);
  });

  it("asks for the ws package when there is no global WebSocket", () => {
    vi.stubGlobal("WebSocket", undefined);
    expect(() => new Client("ws://127.0.0.1:1")).toThrow(
      /pass \{ websocket: WebSocket \} from the 'ws' package on Node < 22/,
    );
  });
});

describe("Client connect", () => {
  it("negotiates the JSON subprotocol, sends connect first and walks the states", async () => {
    const client = h.client({ token: "secret", name: "test-app" });
    const states: ClientState[] = [];
    client.on("state", ({ to }) => states.push(to));
    const connected = nextEvent(client, "connected");
    client.connect();
    client.connect(); // idempotent
    const peer = await h.server().nextPeer();
    expect(peer.protocol).toBe("hubcast.v1.json");
    const request = await peer.accept({ client: "abc", pingIntervalMs: 25_000 });
    expect(request).toEqual({ token: "secret", name: "test-app" });
    expect(await connected).toMatchObject({ client: "abc", pingIntervalMs: 25_000 });
    expect(client.state).toBe("connected");
    expect(states).toEqual(["connecting", "connected"]);
  });

  it("calls getToken before every attempt", async () => {
    const tokens = ["t1", "t2"];
    const getToken = vi.fn(async () => tokens.shift() ?? "none");
    const { peer } = await h.connected({ getToken });
    peer.close(3000, "shutdown");
    const second = await h.server().nextPeer();
    expect(await second.accept()).toEqual({ token: "t2" });
    expect(getToken).toHaveBeenCalledTimes(2);
  });

  it("counts a rejected getToken as a failed attempt and retries", async () => {
    const getToken = vi.fn().mockRejectedValueOnce(new Error("auth server down")).mockResolvedValue("t");
    const client = h.client({ getToken });
    const errorEvent = nextEvent(client, "error");
    const disconnected = nextEvent(client, "disconnected");
    client.connect();
    expect((await errorEvent).error.message).toBe("auth server down");
    expect(await disconnected).toMatchObject({ code: LocalCode.transportFailed, reconnect: true });
    expect(await (await h.server().nextPeer()).accept()).toEqual({ token: "t" });
    await client.ready();
  });

  it("rejects ready() with the server's error when connect is refused for good", async () => {
    const client = h.client();
    const errors: Error[] = [];
    client.on("error", ({ error }) => errors.push(error));
    const disconnected = nextEvent(client, "disconnected");
    client.connect();
    const ready = client.ready();
    const peer = await h.server().nextPeer();
    const { id } = await peer.command("connect");
    peer.replyError(id, { code: ErrorCode.unauthorized, message: "bad token", temporary: false });
    await expect(ready).rejects.toMatchObject({ name: "HubcastError", code: ErrorCode.unauthorized });
    expect(await disconnected).toEqual({ code: ErrorCode.unauthorized, reason: "bad token", reconnect: false });
    expect(client.state).toBe("disconnected");
    expect(errors).toHaveLength(1);
    await expect(client.publish("chat", 1)).rejects.toBeInstanceOf(HubcastError);
  });

  it("stops for good when the WebSocket cannot be created", async () => {
    const client = h.client();
    const bad = new Client("not a url", { websocket: WebSocket });
    const errorEvent = nextEvent(bad, "error");
    const disconnected = nextEvent(bad, "disconnected");
    bad.connect();
    expect((await errorEvent).error).toBeInstanceOf(SyntaxError);
    expect(await disconnected).toMatchObject({ code: LocalCode.transportFailed, reconnect: false });
    expect(bad.state).toBe("disconnected");
    expect(client.state).toBe("disconnected");
  });

  it("disconnect() while the socket is still opening aborts it cleanly", async () => {
    const closed: Promise<number>[] = [];
    class TrackedWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        closed.push(new Promise((resolve) => this.once("close", resolve)));
      }
    }
    const client = h.client({ websocket: TrackedWebSocket });
    client.connect();
    client.disconnect();
    expect(client.state).toBe("disconnected");
    // `ws` reports the aborted handshake as an "error" then "close"; the SDK must absorb both.
    expect(await closed[0]).toBe(1006);
    await expect(client.ready()).rejects.toBeInstanceOf(ClientClosedError);
  });
});

describe("Client commands", () => {
  it("matches replies to commands by id, whatever the reply order", async () => {
    const { client, peer } = await h.connected();
    const first = client.publish("a", { n: 1 });
    const second = client.presenceStats("b");
    const cmdA = await peer.command("publish");
    const cmdB = await peer.command("presence_stats");
    expect(cmdA.request).toEqual({
      channel: "a",
      data: { n: 1 },
      idempotencyKey: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(cmdB.id).not.toBe(cmdA.id);
    peer.reply(cmdB.id, "presence_stats", { numClients: 2, numUsers: 1 });
    peer.reply(cmdA.id, "publish", { position: { offset: 4, epoch: "e" } });
    expect(await second).toEqual({ numClients: 2, numUsers: 1 });
    expect(await first).toEqual({ position: { offset: 4, epoch: "e" } });
  });

  it("rejects with a HubcastError carrying the server's code and temporary flag", async () => {
    const { client, peer } = await h.connected();
    const history = client.history("chat", { limit: 10, reverse: true });
    const { id, request } = await peer.command("history");
    expect(request).toEqual({ channel: "chat", limit: 10, reverse: true });
    peer.replyError(id, { code: ErrorCode.notAvailable, message: "history is off", temporary: false });
    const error: unknown = await history.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubcastError);
    expect(error).toMatchObject({ code: ErrorCode.notAvailable, temporary: false, message: "history is off" });
  });

  it("times out a command the server never answers and ignores its late reply", async () => {
    const { client, peer } = await h.connected({ timeoutMs: 250 });
    const errors: Error[] = [];
    client.on("error", ({ error }) => errors.push(error));
    const presence = client.presence("chat");
    const { id } = await peer.command("presence");
    const error: unknown = await presence.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ code: ErrorCode.timeout, temporary: true });
    peer.reply(id, "presence", { clients: {} });
    const next = client.presence("chat");
    const second = await peer.command("presence");
    peer.reply(second.id, "presence", { clients: { x: { client: "x", user: "u" } } });
    expect(await next).toEqual({ clients: { x: { client: "x", user: "u" } } });
    expect(errors).toEqual([]);
    expect(client.state).toBe("connected");
  });

  it("queues commands issued before connect and sends them after the connect reply", async () => {
    const client = h.client();
    const published = client.publish("chat", "early");
    client.connect();
    const peer = await h.server().nextPeer();
    const first = await peer.take(() => true, "the first frame");
    expect(first).toHaveProperty("connect");
    peer.reply(first["id"] as number, "connect", {
      client: "c",
      version: 1,
      pingIntervalMs: 60_000,
      maxMessageBytes: 1 << 16,
    });
    const { id, request } = await peer.command("publish");
    expect(request).toMatchObject({ channel: "chat", data: "early" });
    peer.reply(id, "publish", {});
    expect(await published).toEqual({});
  });

  it("times out a queued command when no connection comes", async () => {
    const client = h.client({ timeoutMs: 50 });
    await expect(client.publish("chat", 1)).rejects.toThrow(/found no connection within 50ms/);
  });

  it("refuses a command over maxMessageBytes without losing the connection", async () => {
    const { client, peer } = await h.connected({}, { maxMessageBytes: 150 });
    const error: unknown = await client.publish("chat", "é".repeat(60)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubcastError);
    expect(error).toMatchObject({ code: ErrorCode.limitExceeded, temporary: false });
    const small = client.publish("chat", "é");
    const { id, request } = await peer.command("publish");
    expect(request).toMatchObject({ channel: "chat", data: "é" });
    peer.reply(id, "publish", {});
    await small;
    expect(client.state).toBe("connected");
  });

  it("answers every ping with a pong", async () => {
    const { peer } = await h.connected();
    peer.push("ping", {});
    peer.push("ping", {});
    expect(await peer.take((f) => "pong" in f, "pong 1")).toEqual({ pong: {} });
    expect(await peer.take((f) => "pong" in f, "pong 2")).toEqual({ pong: {} });
  });

  it("rejects sent commands with ConnectionClosedError when the connection drops", async () => {
    const { client, peer } = await h.connected({ publishAttempts: 1 });
    const published = client.publish("chat", 1);
    await peer.command("publish");
    peer.close(3000, "shutdown");
    const error: unknown = await published.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect(error).toMatchObject({ temporary: true, close: { code: 3000, reason: "shutdown" } });
  });

  it("disconnect() closes with 1000, rejects pending commands and stays down", async () => {
    const { client, peer } = await h.connected();
    const published = client.publish("chat", 1);
    await peer.command("publish");
    const disconnected = nextEvent(client, "disconnected");
    client.disconnect();
    await expect(published).rejects.toBeInstanceOf(ClientClosedError);
    expect(await disconnected).toMatchObject({ reconnect: false });
    expect((await peer.closed).code).toBe(1000);
    expect(client.state).toBe("disconnected");
    await expect(client.publish("chat", 2)).rejects.toBeInstanceOf(ClientClosedError);
    await expect(client.ready()).rejects.toBeInstanceOf(ClientClosedError);
  });
});
