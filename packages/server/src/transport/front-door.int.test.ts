import { once } from "node:events";
import type { IncomingMessage, Server as HttpServer } from "node:http";
import { createServer as createHttpServer } from "node:http";
import type { Socket } from "node:net";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FrontDoor } from "./front-door.js";
import type { UpgradeRequest } from "./upgrade-request.js";
import { parseUpgradeRequest } from "./upgrade-request.js";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const HANDSHAKE = `GET /ws?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

interface Door {
  door: FrontDoor;
  http: HttpServer;
  port: number;
  /** Handshakes the front door took itself. */
  ownUpgrades: { req: UpgradeRequest; head: Buffer; remoteAddress: string | undefined }[];
  /** Upgrades that went through Node's parser. */
  nodeUpgrades: IncomingMessage[];
  /** Sockets Node's HTTP server was given. */
  handedOff: Socket[];
}

const doors: Door[] = [];
const clients: Socket[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await Promise.all(doors.splice(0).map(({ door }) => door.close()));
});

/** A front door on a free port over an HTTP server that echoes method, path and body. */
async function openDoor(headersTimeoutMs = 5_000): Promise<Door> {
  const http = createHttpServer({
    headersTimeout: headersTimeoutMs,
    requestTimeout: headersTimeoutMs * 2,
    connectionsCheckingInterval: Math.max(25, Math.floor(headersTimeoutMs / 4)),
  });
  const d: Omit<Door, "door" | "port"> = { http, ownUpgrades: [], nodeUpgrades: [], handedOff: [] };
  http.on("connection", (socket: Socket) => d.handedOff.push(socket));
  http.on("request", (req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => res.end(`${req.method} ${req.url} ${body}`));
  });
  const answer = (socket: Socket): void => {
    socket.on("error", () => socket.destroy());
    socket.end("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  };
  http.on("upgrade", (req: IncomingMessage, socket: Socket) => {
    d.nodeUpgrades.push(req);
    answer(socket);
  });
  const door = new FrontDoor({
    http,
    upgrade: (req, socket, head) => {
      d.ownUpgrades.push({ req, head, remoteAddress: req.socket.remoteAddress });
      answer(socket as Socket);
    },
    headersTimeoutMs,
    checkIntervalMs: Math.max(25, Math.floor(headersTimeoutMs / 4)),
  });
  door.server.listen(0, "127.0.0.1");
  await once(door.server, "listening");
  const full: Door = { ...d, door, port: door.address()?.port ?? 0 };
  doors.push(full);
  return full;
}

/** Sends `parts` (a pause between each) and resolves with everything the server sent until it closed. */
async function exchange(port: number, parts: string[], pauseMs = 20): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  clients.push(socket);
  let received = "";
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
  socket.on("error", () => undefined);
  const closed = once(socket, "close");
  await once(socket, "connect");
  for (const part of parts) {
    socket.write(Buffer.from(part, "latin1"));
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  await closed;
  return received;
}

describe("FrontDoor", () => {
  it("takes a WebSocket handshake itself, with its headers and the bytes after them, without Node's HTTP server", async () => {
    const d = await openDoor();
    const reply = await exchange(d.port, [`${HANDSHAKE}\x81\x80`]);
    expect(reply).toMatch(/^HTTP\/1\.1 101 /);
    expect(d.ownUpgrades).toHaveLength(1);
    const { req, head, remoteAddress } = d.ownUpgrades[0] as Door["ownUpgrades"][number];
    expect(req.method).toBe("GET");
    expect(req.url).toBe("/ws?x=1");
    expect(req.headers["sec-websocket-key"]).toBe(KEY);
    expect(req.headers.upgrade).toBe("websocket");
    expect(remoteAddress).toBe("127.0.0.1");
    expect([...head]).toEqual([0x81, 0x80]);
    expect(d.handedOff).toHaveLength(0);
    expect(d.nodeUpgrades).toHaveLength(0);
  });

  it("finds the end of the headers when it arrives one byte at a time", async () => {
    const d = await openDoor();
    const reply = await exchange(d.port, [...HANDSHAKE], 1);
    expect(reply).toMatch(/^HTTP\/1\.1 101 /);
    expect(d.ownUpgrades).toHaveLength(1);
    expect(d.ownUpgrades[0]?.head.length).toBe(0);
  });

  it("hands every other request to the HTTP server with the bytes it read, bodies and kept-alive requests included", async () => {
    const d = await openDoor();
    const post = "POST /api/publish HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
    const next = "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    expect(await exchange(d.port, [post, "hello", next])).toMatch(/POST \/api\/publish hello[\s\S]*GET \/x $/);
    expect(await exchange(d.port, ["GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"])).toMatch(
      /GET \/health $/,
    );
    expect(d.handedOff).toHaveLength(2);
    expect(d.ownUpgrades).toHaveLength(0);
  });

  it("leaves to Node what its strict reader does not take, and an upgrade on a kept-alive connection", async () => {
    const d = await openDoor();
    const odd = [
      HANDSHAKE.replace("HTTP/1.1", "HTTP/1.0"),
      HANDSHAKE.replace("Host: a\r\n", "Host: a\r\n continued\r\n"), // obs-fold: Node answers 400
      HANDSHAKE.replace("Upgrade: websocket", "Upgrade: h2c"),
      HANDSHAKE.replace("Host: a\r\n", "Host: a\r\nContent-Length: 0\r\n"),
    ];
    for (const request of odd) await exchange(d.port, [request]);
    const keptAlive = await exchange(d.port, ["GET /a HTTP/1.1\r\nHost: a\r\n\r\n", HANDSHAKE], 100);
    expect(keptAlive).toMatch(/GET \/a [\s\S]*HTTP\/1\.1 101 /);
    expect(d.ownUpgrades).toHaveLength(0);
    expect(d.handedOff).toHaveLength(odd.length + 1);
  });

  it("hands a header block past Node's limit to Node, which answers 431", async () => {
    const d = await openDoor();
    const reply = await exchange(d.port, [`GET /ws HTTP/1.1\r\nX-Big: ${"b".repeat(20_000)}\r\n\r\n`]);
    expect(reply).toMatch(/^HTTP\/1\.1 431 /);
    expect(d.handedOff).toHaveLength(1);
  });

  it("answers 408 to a handshake whose headers do not arrive in time, and Node answers 408 to other requests it was handed", async () => {
    const d = await openDoor(300);
    const trickle = async (request: string): Promise<{ reply: string; ms: number }> => {
      const startedAt = Date.now();
      const reply = await exchange(d.port, [...request.slice(0, 30)], 50);
      return { reply, ms: Date.now() - startedAt };
    };
    const [own, handed] = await Promise.all([trickle(HANDSHAKE), trickle("POST /api HTTP/1.1\r\nHost: a\r\n\r\n")]);
    for (const { reply, ms } of [own, handed]) {
      expect(reply).toMatch(/^HTTP\/1\.1 408 /);
      expect(ms).toBeLessThan(300 + 1_500);
    }
    expect(d.handedOff).toHaveLength(1);
  });
});

describe("parseUpgradeRequest", () => {
  const socket = {} as Socket;
  const head = (request: string) => request.slice(0, request.indexOf("\r\n\r\n"));

  it("joins repeated headers and keeps names like __proto__ as plain headers", () => {
    const req = parseUpgradeRequest(
      head(
        HANDSHAKE.replace(
          "Host: a\r\n",
          "Host: a\r\nSec-WebSocket-Protocol: a\r\nsec-websocket-protocol: b\r\n__proto__: x\r\n",
        ),
      ),
      socket,
    );
    expect(req?.headers["sec-websocket-protocol"]).toBe("a, b");
    expect(Object.entries(req?.headers ?? {})).toContainEqual(["__proto__", "x"]);
    expect(Object.getPrototypeOf(req?.headers)).toBe(null);
  });

  it("refuses anything outside its strict subset", () => {
    for (const request of [
      HANDSHAKE.replace("GET", "get"),
      HANDSHAKE.replace("GET /ws?x=1", "GET /w s"),
      HANDSHAKE.replace("Host: a", "Host a"),
      HANDSHAKE.replace("Host: a", "Ho st: a"),
      HANDSHAKE.replace("Host: a", "Host: a\x00"),
      HANDSHAKE.replace("Host: a\r\n", "Host: a\n"),
      HANDSHAKE.replace("Upgrade: websocket\r\n", ""),
      HANDSHAKE.replace("Host: a\r\n", "Host: a\r\nTransfer-Encoding: chunked\r\n"),
    ])
      expect(parseUpgradeRequest(head(request), socket), JSON.stringify(request)).toBeUndefined();
  });
});
