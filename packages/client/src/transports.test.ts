import { afterEach, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { Client } from "./client.js";
import type { TransportEvent } from "./client-events.js";
import { LocalCode } from "./local-code.js";
import { STICKY_ATTEMPTS } from "./transport-rotation.js";
import type { ClientOptions } from "./options.js";
import { emulationUrls } from "./transports.js";
import type { TransportName } from "./transports.js";
import { FakeNetwork, fakeClient } from "../test/fake-carriers.js";
import { nextEvent } from "../test/scripted-server.js";

const clients: Client[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
  vi.unstubAllGlobals();
});

function start(network: FakeNetwork, options: ClientOptions = {}, available?: readonly TransportName[]) {
  const client = fakeClient(network, options, available);
  clients.push(client);
  const transports: TransportEvent[] = [];
  client.on("transport", (event) => transports.push(event));
  client.connect();
  return { client, transports };
}

describe("transport fallback", () => {
  it("moves on to the next transport at once when one cannot reach the node, without backoff", async () => {
    const network = new FakeNetwork();
    const random = vi.fn(() => 0.5);
    const { client, transports } = start(network, { random });
    const ws = await network.next();
    expect(ws.transport).toBe("websocket");
    ws.fail();
    const http = await network.next();
    expect(http.transport).toBe("http-stream");
    http.open(); // opened, but the stream never answered: a proxy that buffers it, say
    http.fail();
    const sse = await network.next();
    expect(sse.transport).toBe("sse");
    await sse.accept();
    await client.ready();
    expect(client.transport).toBe("sse");
    expect(transports).toEqual([{ from: undefined, to: "sse" }]);
    expect(random).not.toHaveBeenCalled(); // no backoff was drawn within the round
  });

  it("waits a backoff after a whole round failed, then starts again from the first transport", async () => {
    const network = new FakeNetwork();
    const random = vi.fn(() => 0.5);
    const { client } = start(network, { random });
    for (const expected of ["websocket", "http-stream", "sse"]) {
      const carrier = await network.next();
      expect(carrier.transport).toBe(expected);
      carrier.fail();
    }
    const again = await network.next();
    expect(again.transport).toBe("websocket");
    expect(random).toHaveBeenCalledTimes(1);
    await again.accept();
    await client.ready();
    expect(client.transport).toBe("websocket");
  });

  it("reconnects over the same transport after a connection on it dropped", async () => {
    const network = new FakeNetwork();
    const { client } = start(network, { transports: ["websocket", "http-stream"] });
    const ws = await network.next();
    await ws.accept({ pingIntervalMs: 60_000 });
    await client.ready();
    const disconnected = nextEvent(client, "disconnected");
    ws.drop();
    expect(await disconnected).toMatchObject({ code: 1006, reconnect: true });
    expect(client.transport).toBeUndefined();
    expect((await network.next()).transport).toBe("websocket");
  });

  it("reconnects first over the fallback that worked", async () => {
    const network = new FakeNetwork();
    const { client } = start(network, { websocketRetryMs: 60_000 });
    (await network.next()).fail();
    const http = await network.next();
    await http.accept();
    await client.ready();
    http.drop();
    const next = await network.next();
    expect(next.transport).toBe("http-stream");
    await next.accept();
    await client.ready();
    expect(client.transport).toBe("http-stream");
  });

  it("keeps a transport that worked, with backoff, until five attempts in a row fail", async () => {
    const network = new FakeNetwork();
    const random = vi.fn(() => 0.5);
    const { client } = start(network, { random, websocketRetryMs: 60_000 });
    const ws = await network.next();
    await ws.accept();
    await client.ready();
    ws.drop(); // the node restarts, say
    for (let i = 1; i <= STICKY_ATTEMPTS; i++) {
      const again = await network.next();
      expect(again.transport).toBe("websocket");
      again.fail();
    }
    // The first failures each waited a backoff; after the last one the others are tried at once.
    expect(random).toHaveBeenCalledTimes(STICKY_ATTEMPTS);
    const http = await network.next();
    expect(http.transport).toBe("http-stream");
    expect(random).toHaveBeenCalledTimes(STICKY_ATTEMPTS);
    await http.accept();
    await client.ready();
    expect(client.transport).toBe("http-stream");
  });

  it("comes back to WebSocket when one opens while connected on a fallback", async () => {
    const network = new FakeNetwork();
    const { client, transports } = start(network, { websocketRetryMs: 20 });
    (await network.next()).fail();
    const http = await network.next();
    await http.accept();
    await client.ready();
    expect(client.transport).toBe("http-stream");
    // The first check finds WebSockets still refused: the connection stays.
    const refused = await network.next();
    expect(refused.transport).toBe("websocket");
    refused.fail();
    // The second one opens: it is closed at once, and the client reconnects over WebSocket.
    const probe = await network.next();
    expect(probe.transport).toBe("websocket");
    expect(client.transport).toBe("http-stream");
    const disconnected = nextEvent(client, "disconnected");
    probe.open();
    expect(probe.closedBy).toEqual({ code: 1000, reason: "probe" });
    expect(probe.sent).toEqual([]);
    expect(await disconnected).toMatchObject({ code: LocalCode.websocketAvailable, reconnect: true });
    expect(http.closedBy?.code).toBe(1000);
    const ws = await network.next();
    expect(ws.transport).toBe("websocket");
    await ws.accept();
    await client.ready();
    expect(client.transport).toBe("websocket");
    expect(transports).toEqual([
      { from: undefined, to: "http-stream" },
      { from: "http-stream", to: "websocket" },
    ]);
  });

  it("does not check for WebSocket when it is not preferred to the transport in use", async () => {
    const network = new FakeNetwork();
    const { client } = start(network, { transports: ["http-stream", "websocket"], websocketRetryMs: 10 });
    const http = await network.next();
    await http.accept();
    await client.ready();
    const ping = nextEvent(client, "disconnected", () => true, 100).catch(() => "none");
    expect(await ping).toBe("none");
    expect(network.created).toHaveLength(1);
  });

  it("skips transports the environment lacks", async () => {
    const network = new FakeNetwork();
    const { client } = start(network, {}, ["websocket", "http-stream"]);
    (await network.next()).fail();
    (await network.next()).fail();
    expect((await network.next()).transport).toBe("websocket");
    expect(client.state).toBe("connecting");
  });
});

describe("transport options", () => {
  const url = "ws://127.0.0.1:1/ws";

  it("refuses a transports list that is empty, repeats itself or names no transport", () => {
    expect(() => new Client(url, { websocket: WebSocket, transports: [] })).toThrow(/transports must be a non-empty/);
    const wrong = ["websocket", "long-polling"] as unknown as ["websocket"];
    expect(() => new Client(url, { websocket: WebSocket, transports: wrong })).toThrow(/"long-polling" is not one/);
    expect(() => new Client(url, { websocket: WebSocket, transports: ["sse", "sse"] })).toThrow(/each once/);
    expect(() => new Client(url, { websocket: WebSocket, websocketRetryMs: 0 })).toThrow(/websocketRetryMs/);
  });

  it("names what is missing when no listed transport can run here", () => {
    // Node has no EventSource.
    expect(() => new Client(url, { transports: ["sse"] })).toThrow(/"sse" a global EventSource/);
  });

  it("needs no WebSocket class without websocket in transports", () => {
    vi.stubGlobal("WebSocket", undefined);
    const client = new Client(url, { transports: ["http-stream"] });
    expect(client.transport).toBeUndefined();
    expect(() => new Client(url)).toThrow(/or leave "websocket" out of transports/);
  });

  it("derives the emulation endpoints from the WebSocket URL, or takes them as given", () => {
    expect(emulationUrls("wss://example.com/ws")).toEqual({
      stream: "https://example.com/emulation",
      send: "https://example.com/emulation/send",
    });
    expect(emulationUrls("ws://127.0.0.1:8080/hubcast/ws?x=1")).toEqual({
      stream: "http://127.0.0.1:8080/hubcast/emulation",
      send: "http://127.0.0.1:8080/hubcast/emulation/send",
    });
    expect(emulationUrls("ws://a/ws", "http://b:1/emulation", "http://c:2/emulation/send")).toEqual({
      stream: "http://b:1/emulation",
      send: "http://c:2/emulation/send",
    });
  });
});
