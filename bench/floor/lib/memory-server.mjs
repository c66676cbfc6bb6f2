/**
 * The memory floor's server, in its own process (run with --expose-gc): holds idle
 * connections of one kind and reports its memory after a full garbage collection.
 *
 *   net-paused    bare `net` server, `pauseOnConnect`: the socket is never read
 *   net-reading   bare `net` server with a 'data' listener (reading, nothing arrives)
 *   http-upgrade  `http` server; the WebSocket opening handshake answered by hand in
 *                 'upgrade' (101 + Sec-WebSocket-Accept), then only the socket is kept,
 *                 reading
 *   net-upgrade   bare `net` server that reads the request's header block itself and
 *                 answers the WebSocket opening handshake (the socket never meets the HTTP
 *                 parser), then keeps the socket, reading
 *   net-exchange  net-upgrade, then two exchanges per connection: the client sends a
 *                 small frame, the server answers with a 102-byte frame, twice (what a
 *                 Hubcast client's connect and subscribe cost in I/O, with no state kept)
 *   ws            `http` server + a `ws` WebSocketServer (noServer, perMessageDeflate off,
 *                 clientTracking off) doing the handshake; the WebSocket objects are kept
 *   hubcast       a Hubcast node (the repository's build, memory engine), each connection
 *                 connected and subscribed to one channel: what the floors are for
 *
 * Nothing is written after the handshake and no timers run per connection.
 * Commands: listen, status, sample, exit.
 */
import { createHash } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { parseArgs } from "node:util";
import { serve } from "./processes.mjs";
import { openFiles, procStatus, sleep } from "./proc.mjs";

export const VARIANTS = ["net-paused", "net-reading", "http-upgrade", "net-upgrade", "net-exchange", "ws", "hubcast"];
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const { values } = parseArgs({ options: { variant: { type: "string" } } });
const variant = values.variant;
if (!VARIANTS.includes(variant)) throw new Error(`--variant must be one of ${VARIANTS.join(", ")}`);
if (typeof globalThis.gc !== "function") throw new Error("run with --expose-gc");

/** What the server keeps per connection: the socket, or the WebSocket. */
const held = [];
let closed = 0;
let rejected = 0;
const noop = () => {};
const onClose = () => {
  closed++;
};

/** The `101 Switching Protocols` answer to a handshake with `key`. */
function switching(key) {
  const accept = createHash("sha1")
    .update(key + WS_GUID)
    .digest("base64");
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
}

/** net-upgrade's first reader: the header block, then the handshake's answer; afterwards the socket only reads. */
function readHandshake(chunk) {
  this.head = (this.head ?? "") + chunk.toString("latin1");
  const end = this.head.indexOf("\r\n\r\n");
  if (end < 0) return;
  const key = /^sec-websocket-key: *(\S+) *$/im.exec(this.head.slice(0, end))?.[1];
  this.head = undefined;
  this.off("data", readHandshake);
  this.on("data", variant === "net-exchange" ? answer : noop);
  if (key === undefined) {
    rejected++;
    this.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    return;
  }
  this.write(switching(key));
  held.push(this);
}

/** net-exchange's answer to each frame the client sends: a 100-byte text frame. */
const ANSWER = Buffer.concat([Buffer.from([0x81, 100]), Buffer.alloc(100, 0x61)]);
let answered = 0;
function answer() {
  this.write(ANSWER);
  answered++;
}

let server;
/** The Hubcast variant's node; `held` counts its subscriptions instead. */
let node;
if (variant === "hubcast") {
  // Resolved from the repository's build (npm run build at the root).
  const { createNode } = await import("../../../packages/server/dist/index.js");
  node = await createNode({
    host: "127.0.0.1",
    port: 0,
    logLevel: "warn",
    demo: false,
    namespaces: { floor: { subscribe: "anyone" } },
    // Admission off for the ramp; every other limit as shipped (the command rate limit too).
    maxConnectionsPerSecond: 0,
    // Idle means idle: no pings in the run (the client does not answer them).
    pingIntervalMs: 3_600_000,
  });
} else if (variant === "net-upgrade" || variant === "net-exchange") {
  server = createNetServer({ noDelay: true }, (socket) => {
    socket.on("error", noop);
    socket.on("close", onClose);
    socket.on("data", readHandshake);
  });
} else if (variant === "net-paused" || variant === "net-reading") {
  server = createNetServer({ pauseOnConnect: variant === "net-paused" }, (socket) => {
    socket.on("error", noop);
    socket.on("close", onClose);
    if (variant === "net-reading") socket.on("data", noop);
    held.push(socket);
  });
} else if (variant === "http-upgrade") {
  server = createHttpServer();
  server.on("upgrade", (req, socket) => {
    socket.on("error", noop);
    const key = req.headers["sec-websocket-key"];
    if (req.headers.upgrade?.toLowerCase() !== "websocket" || typeof key !== "string") {
      rejected++;
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      return;
    }
    socket.setNoDelay(true);
    socket.write(switching(key));
    socket.on("close", onClose);
    socket.on("data", noop);
    held.push(socket);
  });
} else {
  // Resolved from the repository's node_modules (ws is a root devDependency).
  const { WebSocketServer } = await import("ws");
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  server = createHttpServer();
  server.on("upgrade", (req, socket, head) => {
    socket.on("error", noop);
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("error", noop);
      ws.on("close", onClose);
      held.push(ws);
    });
  });
}

let nodePeak = 0;
/** Connections the node held at some status reading and no longer holds. */
function nodeClosed() {
  const { connections } = node.info();
  nodePeak = Math.max(nodePeak, connections);
  return nodePeak - connections;
}

/** Connections done with their handshake (net-exchange: and with both exchanges; hubcast: subscribed). */
function heldCount() {
  if (variant === "net-exchange") return answered >= 2 * held.length ? held.length : answered >> 1;
  return node === undefined ? held.length : node.info().subscriptions;
}

/** Memory after two full collections, 100 ms apart (and 300 ms of quiet before). */
async function sample() {
  await sleep(300);
  globalThis.gc();
  await sleep(100);
  globalThis.gc();
  const m = process.memoryUsage();
  return {
    held: heldCount(),
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    ...procStatus(),
    openFiles: openFiles(),
  };
}

serve({
  listen: async () => {
    if (node !== undefined) {
      const { port } = await node.start();
      return { port, pid: process.pid };
    }
    return await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port: 0, backlog: 511 }, () =>
        resolve({ port: server.address().port, pid: process.pid }),
      );
    });
  },
  status: () => ({ held: heldCount(), closed: node === undefined ? closed : nodeClosed(), rejected }),
  sample,
});
