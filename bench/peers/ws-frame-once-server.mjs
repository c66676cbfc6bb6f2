#!/usr/bin/env node
/**
 * Plain `ws` + Redis pub/sub with the frame built once: the publication arrives from Redis
 * as a Buffer, `WebSocket.Sender.frame` builds one unmasked text frame from it, and that one
 * Buffer is written to each subscriber's socket with a single `socket.write()`, bypassing
 * `ws`'s per-send work. Safe because nothing else writes partial frames: the server sends
 * no compressed or fragmented messages, and `ws` writes its own frames (replies, pings)
 * whole. See lib/ws-channel-server.mjs for the protocol.
 *
 *   node ws-frame-once-server.mjs --redis-url redis://127.0.0.1:6379 [--port 0]
 */
import { Sender, WebSocket } from "ws";
import { runWsChannelServer } from "./lib/ws-channel-server.mjs";

const FRAME_OPTIONS = { fin: true, opcode: 0x1, mask: false, readOnly: false, rsv1: false };

await runWsChannelServer({
  name: "ws-frame-once-server",
  delivery: {
    bufferMode: true,
    deliver(sockets, message, rawSocketOf) {
      const frame = Buffer.concat(Sender.frame(message, FRAME_OPTIONS));
      for (const ws of sockets) {
        const socket = rawSocketOf(ws);
        if (ws.readyState === WebSocket.OPEN && socket.writable) socket.write(frame);
      }
    },
  },
});
