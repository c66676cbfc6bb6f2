/**
 * The "plain ws + Redis" design, as a team would write it without a framework: a `ws`
 * server, one Redis connection for PUBLISH and one subscribed to the channels that have
 * local subscribers, and a Set of sockets per channel. The two peer servers differ only in
 * how a publication reaches the sockets (the `delivery` strategy).
 *
 * Protocol (the bench's `--protocol ws-plain` adapter), JSON text frames:
 *   → {"id":1,"subscribe":"chan"}              ← {"id":1}   (once the Redis SUBSCRIBE is live)
 *   → {"id":2,"publish":"chan","data":<json>}  ← {"id":2}   (once Redis accepted the PUBLISH)
 *   ← {"channel":"chan","data":<json>}          a publication; `data` comes last
 *   ← {"id":3,"error":"message"}                a refused command
 * Every publication goes through Redis, also to subscribers on the publishing node. The
 * server pings every socket every 25 s (as Hubcast and Socket.IO do by default) and closes
 * those that did not answer the previous ping.
 */
import { createServer } from "node:http";
import { createClient } from "redis";
import { WebSocketServer } from "ws";
import { announceReady, exitOnSignal, logError, serverArgs } from "./server-cli.mjs";

/** Server ping period, ms: the default of Hubcast and Socket.IO, so heartbeats cost the same. */
const PING_INTERVAL_MS = 25_000;
/** Largest client frame, bytes. */
const MAX_PAYLOAD_BYTES = 64 * 1024;

const RAW_SOCKET = Symbol("rawSocket");
const ALIVE = Symbol("alive");
const CHANNELS = Symbol("channels");

/**
 * @typedef {object} Delivery How a publication from Redis reaches the local subscribers.
 * @property {boolean} bufferMode Receive Redis messages as Buffers (true) or strings.
 * @property {(sockets: Set<import("ws").WebSocket>, message: Buffer | string, rawSocketOf: (ws: import("ws").WebSocket) => import("node:net").Socket) => void} deliver
 */

/**
 * Starts the server from the command line (`--port`, `--host`, `--redis-url`), prints the
 * ready line, and closes on SIGTERM/SIGINT.
 * @param {{ name: string, delivery: Delivery }} options
 */
export async function runWsChannelServer({ name, delivery }) {
  const usage = `Usage: node ${name}.mjs [--port N] [--host ADDR] --redis-url redis://127.0.0.1:6379`;
  const args = serverArgs(name, usage);
  const redisUrl = args.redisUrl ?? "redis://127.0.0.1:6379";
  const onError = logError(name, "redis");
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  pub.on("error", onError);
  sub.on("error", onError);
  await Promise.all([pub.connect(), sub.connect()]);

  /** channel → { sockets, live }: `live` resolves when the Redis SUBSCRIBE is in place. */
  const channels = new Map();
  const rawSocketOf = (ws) => ws[RAW_SOCKET];
  const onRedisMessage = (message, channel) => {
    const entry = channels.get(typeof channel === "string" ? channel : channel.toString());
    if (entry !== undefined && entry.sockets.size > 0) delivery.deliver(entry.sockets, message, rawSocketOf);
  };

  function join(ws, channel) {
    let entry = channels.get(channel);
    if (entry === undefined) {
      entry = { sockets: new Set(), live: sub.subscribe(channel, onRedisMessage, delivery.bufferMode) };
      channels.set(channel, entry);
    }
    entry.sockets.add(ws);
    ws[CHANNELS].add(channel);
    return entry.live;
  }

  function leaveAll(ws) {
    for (const channel of ws[CHANNELS]) {
      const entry = channels.get(channel);
      if (entry === undefined) continue;
      entry.sockets.delete(ws);
      if (entry.sockets.size === 0) {
        channels.delete(channel);
        sub.unsubscribe(channel).catch(logError(name, `unsubscribe ${channel}`));
      }
    }
  }

  const reply = (ws, id, error) => {
    if (ws.readyState === ws.OPEN)
      ws.send(error === undefined ? `{"id":${id}}` : `{"id":${id},"error":${JSON.stringify(error)}}`);
  };

  // Shared handlers with `this` = the WebSocket: no closures per connection.
  function onMessage(raw, isBinary) {
    let msg;
    try {
      msg = JSON.parse(raw.toString());
    } catch {
      return this.close(1007, "not JSON");
    }
    const id = Number.isInteger(msg?.id) ? msg.id : 0;
    if (isBinary) return reply(this, id, "binary frames are not accepted");
    if (typeof msg.subscribe === "string") {
      join(this, msg.subscribe).then(
        () => reply(this, id),
        (err) => reply(this, id, `subscribe failed: ${err.message}`),
      );
    } else if (typeof msg.publish === "string") {
      const frame = `{"channel":${JSON.stringify(msg.publish)},"data":${JSON.stringify(msg.data ?? null)}}`;
      pub.publish(msg.publish, frame).then(
        () => reply(this, id),
        (err) => reply(this, id, `publish failed: ${err.message}`),
      );
    } else {
      reply(this, id, "unknown command: send subscribe or publish");
    }
  }
  function onPong() {
    this[ALIVE] = true;
  }
  function onClose() {
    leaveAll(this);
  }
  const onSocketError = logError(name, "socket");

  const http = createServer((_req, res) =>
    res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket only\n"),
  );
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD_BYTES, perMessageDeflate: false });
  http.on("upgrade", (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws[RAW_SOCKET] = socket;
      ws[ALIVE] = true;
      ws[CHANNELS] = new Set();
      ws.on("message", onMessage);
      ws.on("pong", onPong);
      ws.on("close", onClose);
      ws.on("error", onSocketError);
    });
  });

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!ws[ALIVE]) {
        ws.terminate();
        continue;
      }
      ws[ALIVE] = false;
      ws.ping();
    }
  }, PING_INTERVAL_MS);

  await new Promise((resolve, reject) => {
    http.once("error", reject);
    http.listen(args.port, args.host, resolve);
  });
  announceReady(name, http.address().port);
  exitOnSignal(name, async () => {
    clearInterval(pinger);
    for (const ws of wss.clients) ws.terminate();
    await new Promise((resolve) => http.close(resolve));
    await Promise.allSettled([pub.quit(), sub.quit()]);
  });
}
