/**
 * The memory floor's server, in its own process (run with --expose-gc): holds idle
 * connections of one kind and reports its memory after a full garbage collection.
 *
 *   net-paused    bare `net` server, `pauseOnConnect`: the socket is never read
 *   net-reading   bare `net` server with a 'data' listener (reading, nothing arrives)
 *   http-upgrade  `http` server; the WebSocket opening handshake answered by hand in
 *                 'upgrade' (101 + Sec-WebSocket-Accept), then only the socket is kept,
 *                 reading
 *   ws            `http` server + a `ws` WebSocketServer (noServer, perMessageDeflate off,
 *                 clientTracking off) doing the handshake; the WebSocket objects are kept
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

export const VARIANTS = ["net-paused", "net-reading", "http-upgrade", "ws"];
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

let server;
if (variant === "net-paused" || variant === "net-reading") {
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
    const accept = createHash("sha1")
      .update(key + WS_GUID)
      .digest("base64");
    socket.setNoDelay(true);
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
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

/** Memory after two full collections, 100 ms apart (and 300 ms of quiet before). */
async function sample() {
  await sleep(300);
  globalThis.gc();
  await sleep(100);
  globalThis.gc();
  const m = process.memoryUsage();
  return {
    held: held.length,
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
  listen: () =>
    new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port: 0, backlog: 511 }, () =>
        resolve({ port: server.address().port, pid: process.pid }),
      );
    }),
  status: () => ({ held: held.length, closed, rejected }),
  sample,
});
