/**
 * The client side of both floors, in its own process: opens connections to the server in
 * paced batches (a burst of thousands of connects overflows the server's accept queue, and
 * some connections then look open yet never receive anything), optionally does a
 * WebSocket opening handshake on each, then reads and counts every byte per connection. On
 * raw connections it also reads each write-floor frame's stamp (stamps.mjs): how long the
 * frame took from the start of its round to this process.
 *
 * Commands (see processes.mjs): connect, awaitBytes, counts, latency, exit.
 */
import { createHash, randomBytes } from "node:crypto";
import { connect as tcpConnect } from "node:net";
import { serve } from "./processes.mjs";
import { cpusAllowed, openFiles, sleep } from "./proc.mjs";
import { StampReader } from "./stamps.mjs";

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Per connection: bytes received after the handshake. */
const bytes = [];
const sockets = [];
let closed = 0;
let errors = 0;
let lastError;
let peakFiles = 0;
const stamps = new StampReader();

/**
 * Opens `count` connections to `host:port`, `batch` at a time every `batchDelayMs` (and
 * never more than two batches unanswered), in `mode` "raw" (TCP only) or "upgrade" (a
 * WebSocket opening handshake; the connection counts once the server's 101 with the right
 * Sec-WebSocket-Accept arrived) on `path`, then sending `messages` as text frames, each after
 * the server answered the one before (the first data it sends after it). Resolves
 * when all are open, or rejects naming how many failed or were still pending after `timeoutMs`.
 */
function connectAll({ host, port, count, mode, path = "/", messages = [], batch, batchDelayMs, timeoutMs }) {
  const frames = messages.map(maskedTextFrame);
  const startedAt = performance.now();
  let opened = 0;
  let ready = 0;
  let failed = 0;
  return new Promise((resolve, reject) => {
    const done = (error) => {
      clearInterval(timer);
      clearTimeout(deadline);
      peakFiles = Math.max(peakFiles, openFiles());
      if (error === undefined)
        resolve({ connected: ready, ms: Math.round(performance.now() - startedAt), openFiles: peakFiles });
      else
        reject(
          new Error(
            `${error}: ${ready} of ${count} open, ${failed} failed${lastError === undefined ? "" : ` (last error: ${lastError})`}`,
          ),
        );
    };
    const onReady = () => {
      ready++;
      if (ready === count) done();
    };
    const onFail = (err) => {
      failed++;
      lastError = err?.message ?? String(err);
      if (ready + failed === count) done("connections failed");
    };
    const openOne = () => {
      const index = bytes.length;
      bytes.push(0);
      const socket = tcpConnect({ host, port });
      sockets.push(socket);
      let state = "connecting";
      socket.on("error", (err) => {
        errors++;
        lastError = err.message;
        if (state !== "open") {
          state = "failed";
          onFail(err);
        }
      });
      socket.on("close", () => {
        closed++;
        if (state !== "open" && state !== "failed") {
          state = "failed";
          onFail(new Error("closed before open"));
        }
      });
      if (mode === "raw") {
        socket.on("connect", () => {
          state = "open";
          onReady();
        });
        socket.on("data", (chunk) => {
          stamps.read(index, chunk, bytes[index]);
          bytes[index] += chunk.length;
        });
        return;
      }
      const key = randomBytes(16).toString("base64");
      const accept = createHash("sha1")
        .update(key + WS_GUID)
        .digest("base64");
      socket.on("connect", () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
      let head = "";
      let sent = 0;
      socket.on("data", (chunk) => {
        if (state === "open") {
          bytes[index] += chunk.length;
          if (sent < frames.length) socket.write(frames[sent++]);
          return;
        }
        head += chunk.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        const ok =
          /^HTTP\/1\.1 101 /.test(head) &&
          new RegExp(`^sec-websocket-accept: *${accept.replace(/[+/=]/g, "\\$&")} *$`, "im").test(head.slice(0, end));
        if (!ok) {
          state = "failed";
          onFail(new Error(`bad handshake response: ${JSON.stringify(head.slice(0, 80))}`));
          socket.destroy();
          return;
        }
        state = "open";
        bytes[index] += head.length - end - 4;
        head = "";
        if (frames.length > 0) socket.write(frames[sent++]);
        onReady();
      });
    };
    const timer = setInterval(() => {
      const inFlight = opened - ready - failed;
      if (inFlight >= 2 * batch) return;
      const n = Math.min(batch, count - opened);
      for (let i = 0; i < n; i++) openOne();
      opened += n;
      if (opened === count) peakFiles = Math.max(peakFiles, openFiles());
    }, batchDelayMs);
    const deadline = setTimeout(() => done(`timed out after ${timeoutMs / 1000} s`), timeoutMs);
    if (count === 0) done();
  });
}

/** A client's text frame (masked, as RFC 6455 requires of clients) holding `text`, up to 125 bytes. */
function maskedTextFrame(text) {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error("messages after the handshake are at most 125 bytes here");
  const mask = randomBytes(4);
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i] ^ mask[i % 4];
  return frame;
}

/** Received bytes per connection: total, min, max, and how many differ from `expected`. */
function counts(expected) {
  let total = 0;
  let min = Infinity;
  let max = 0;
  let short = 0;
  let over = 0;
  for (const b of bytes) {
    total += b;
    if (b < min) min = b;
    if (b > max) max = b;
    if (expected !== undefined && b < expected) short++;
    if (expected !== undefined && b > expected) over++;
  }
  return {
    connections: bytes.length,
    totalBytes: total,
    minBytes: bytes.length === 0 ? 0 : min,
    maxBytes: max,
    short,
    over,
    closed,
    errors,
    lastError,
    cpusAllowed: cpusAllowed(),
  };
}

serve({
  connect: (m) => connectAll(m),
  counts: () => counts(undefined),
  /** The latency histogram of the stamped frames received so far (raw connections; see stamps.mjs). */
  latency: () => stamps.histogram(),
  /** Waits until every connection has received `perConnection` bytes (or `timeoutMs` passed) and returns the counts. */
  awaitBytes: async ({ perConnection, timeoutMs }) => {
    const until = performance.now() + timeoutMs;
    let c = counts(perConnection);
    while (c.short > 0 && performance.now() < until) {
      await sleep(50);
      c = counts(perConnection);
    }
    // A little longer, so that bytes beyond the expected count would show too.
    await sleep(200);
    return { expectedPerConnection: perConnection, ...counts(perConnection) };
  },
});
