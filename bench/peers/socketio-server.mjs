#!/usr/bin/env node
/**
 * Socket.IO 4 as an app would use it for channels: one channel is one room. With
 * `--redis-url` it runs the official Redis adapter (@socket.io/redis-adapter), so several of
 * these processes act as one and a broadcast on any reaches the room's members on all.
 *
 * Events (the bench's `--protocol socketio` adapter speaks them over Engine.IO v4 / WebSocket):
 *   subscribe(channel, ack)          joins the room; ack() when done, ack({error}) when refused
 *   publish(channel, data, ack)      io.to(channel).emit("publication", channel, data); ack()
 * Publications reach the subscribers as the event `publication` with (channel, data).
 * Transport is WebSocket only (no long-polling), without compression; every other option
 * stays at Socket.IO's defaults (ping every 25 s).
 *
 *   node socketio-server.mjs [--port 0] [--host 127.0.0.1] [--redis-url redis://127.0.0.1:6379]
 */
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";
import { announceReady, exitOnSignal, logError, serverArgs } from "./lib/server-cli.mjs";

const NAME = "socketio-server";
const USAGE = `Usage: node ${NAME}.mjs [--port N] [--host ADDR] [--redis-url redis://127.0.0.1:6379]`;

const args = serverArgs(NAME, USAGE);
const http = createServer((_req, res) => res.writeHead(404).end());
const io = new Server(http, { transports: ["websocket"], serveClient: false, perMessageDeflate: false });

let redis = [];
if (args.redisUrl !== undefined) {
  const pub = createClient({ url: args.redisUrl });
  const sub = pub.duplicate();
  pub.on("error", logError(NAME, "redis"));
  sub.on("error", logError(NAME, "redis"));
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
  redis = [pub, sub];
}

const refuse = (ack, error) => {
  if (typeof ack === "function") ack({ error });
};

// Shared handlers with `this` = the server-side socket: no closures per connection.
function onSubscribe(channel, ack) {
  if (typeof channel !== "string" || channel === "") return refuse(ack, "subscribe needs a channel name");
  this.join(channel);
  if (typeof ack === "function") ack();
}
function onPublish(channel, data, ack) {
  if (typeof channel !== "string" || channel === "") return refuse(ack, "publish needs a channel name");
  io.to(channel).emit("publication", channel, data);
  if (typeof ack === "function") ack();
}
io.on("connection", (socket) => {
  socket.on("subscribe", onSubscribe);
  socket.on("publish", onPublish);
});

await new Promise((resolve, reject) => {
  http.once("error", reject);
  http.listen(args.port, args.host, resolve);
});
announceReady(NAME, http.address().port);
exitOnSignal(NAME, async () => {
  io.disconnectSockets(true);
  await new Promise((resolve) => io.close(() => resolve()));
  await Promise.allSettled(redis.map((client) => client.quit()));
});
