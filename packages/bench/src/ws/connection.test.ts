import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import type { WebSocket } from "ws";
import { WsConnection } from "./connection.js";
import type { WsEnd, WsListener } from "./connection.js";
import { parseWsTarget } from "./handshake.js";

/** Collects a connection's events and lets a test await them. */
class Events implements WsListener {
  texts: string[] = [];
  opened!: Promise<void>;
  ended: Promise<WsEnd>;
  private open!: () => void;
  private end!: (e: WsEnd) => void;
  private textWaiters: { n: number; resolve: () => void }[] = [];
  constructor() {
    this.opened = new Promise((resolve) => (this.open = resolve));
    this.ended = new Promise((resolve) => (this.end = resolve));
  }
  onOpen(): void {
    this.open();
  }
  onText(payload: Buffer): void {
    this.texts.push(payload.toString());
    this.textWaiters = this.textWaiters.filter((w) => {
      if (this.texts.length < w.n) return true;
      w.resolve();
      return false;
    });
  }
  onEnd(end: WsEnd): void {
    this.end(end);
  }
  texts$(n: number): Promise<void> {
    if (this.texts.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.textWaiters.push({ n, resolve }));
  }
}

describe("WsConnection against the ws library", () => {
  let server: WebSocketServer;
  let url: string;
  let accepted: Promise<{ socket: WebSocket; remoteAddress: string | undefined; protocol: string }>;

  beforeEach(async () => {
    server = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      path: "/ws",
      handleProtocols: (protocols) => (protocols.has("hubcast.v1.json") ? "hubcast.v1.json" : false),
    });
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
    accepted = new Promise((resolve) =>
      server.once("connection", (socket, req) =>
        resolve({ socket, remoteAddress: req.socket.remoteAddress, protocol: socket.protocol }),
      ),
    );
  });

  afterEach(async () => {
    for (const client of server.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  it("opens with the subprotocol from the chosen source address and exchanges masked text both ways", async () => {
    const events = new Events();
    const conn = new WsConnection(
      { target: parseWsTarget(url), subprotocol: "hubcast.v1.json", localAddress: "127.0.0.2" },
      events,
    );
    await events.opened;
    const { socket, remoteAddress, protocol } = await accepted;
    expect(remoteAddress).toBe("127.0.0.2");
    expect(protocol).toBe("hubcast.v1.json");
    const received = new Promise<string>((resolve) => socket.once("message", (data) => resolve(String(data))));
    conn.sendText('{"id":1,"connect":{}}');
    expect(await received).toBe('{"id":1,"connect":{}}');
    const big = "x".repeat(100_000);
    socket.send("small");
    socket.send(big);
    await events.texts$(2);
    expect(events.texts).toEqual(["small", big]);
    conn.close();
    expect((await events.ended).code).toBe(1000);
  });

  it("answers pings with pongs carrying the same payload", async () => {
    const events = new Events();
    new WsConnection({ target: parseWsTarget(url), subprotocol: "hubcast.v1.json" }, events);
    await events.opened;
    const { socket } = await accepted;
    const pong = new Promise<string>((resolve) => socket.once("pong", (data) => resolve(String(data))));
    socket.ping("are-you-there");
    expect(await pong).toBe("are-you-there");
    socket.close(3000, "shutdown");
  });

  it("echoes the server's close and reports its code and reason", async () => {
    const events = new Events();
    new WsConnection({ target: parseWsTarget(url), subprotocol: "hubcast.v1.json" }, events);
    await events.opened;
    const { socket } = await accepted;
    const serverSaw = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
    socket.close(3000, "shutdown");
    expect(await events.ended).toEqual({ code: 3000, reason: "shutdown", opened: true });
    expect(await serverSaw).toBe(3000);
  });

  it("reports a refused upgrade and a refused TCP connection as failures", async () => {
    const refused = new Events();
    new WsConnection(
      { target: parseWsTarget(url.replace("/ws", "/elsewhere")), subprotocol: "hubcast.v1.json" },
      refused,
    );
    const end = await refused.ended;
    expect(end.opened).toBe(false);
    expect(end.error).toMatch(/^HTTP 400/);
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const unreachable = new Events();
    new WsConnection({ target: parseWsTarget(`ws://127.0.0.1:${port}/ws`) }, unreachable);
    expect((await unreachable.ended).error).toBe("ECONNREFUSED");
    server = new WebSocketServer({ noServer: true });
  });
});
