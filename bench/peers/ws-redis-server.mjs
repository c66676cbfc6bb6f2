#!/usr/bin/env node
/**
 * Plain `ws` + Redis pub/sub, the straightforward way: every publication arrives from Redis
 * as a string and is handed to `ws.send()` once per subscriber, so `ws` converts and frames
 * it per socket. See lib/ws-channel-server.mjs for the protocol.
 *
 *   node ws-redis-server.mjs --redis-url redis://127.0.0.1:6379 [--port 0]
 */
import { runWsChannelServer } from "./lib/ws-channel-server.mjs";

await runWsChannelServer({
  name: "ws-redis-server",
  delivery: {
    bufferMode: false,
    deliver(sockets, message) {
      for (const ws of sockets) ws.send(message);
    },
  },
});
