import { CloseCode } from "@hubcast/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { clientFrame } from "../../../../test/support/client-frames.js";
import { withTimeout } from "../../../../test/support/frame-inbox.js";
import { ServerProcess } from "../../../../test/support/processes.js";
import {
  RawWebSocket,
  closeCodeOf,
  memoryOf,
  tcpConnect,
  upgradeRequest,
} from "../../../../test/support/raw-socket.js";
import { Opcode } from "./frame.js";

/**
 * Attacks on a default node's memory, each against a real node in its own process, measured
 * by the node's resident set. Each bound sits far below what the same traffic cost before the
 * reader and the pong path were bounded (hundreds of MB), and far above the few MB a bounded
 * node uses for it, so scheduling noise on a small box cannot flip the result.
 */
const MiB = 1024 * 1024;
const MASK = Buffer.from([1, 2, 3, 4]);

const started: ServerProcess[] = [];
const sockets: { destroy(): void }[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(started.splice(0).map((server) => server.stop("SIGKILL")));
});

/**
 * V8's young generation grows by tens of MB under any burst of short-lived allocations (reads,
 * frames) and shrinks later: churn, not what a connection keeps. Pinning it small makes the
 * resident set measure what the node retains; the node's own options stay at their defaults.
 */
const V8_FLAGS = "--max-semi-space-size=2";

async function node(args: string[] = []): Promise<{ server: ServerProcess; pid: number }> {
  const server = await ServerProcess.start(["--port", "0", "--host", "127.0.0.1", "--no-demo", ...args], {
    NODE_OPTIONS: V8_FLAGS,
  });
  started.push(server);
  return { server, pid: server.child.pid as number };
}

async function open(server: ServerProcess, paused = false): Promise<RawWebSocket> {
  const ws = await RawWebSocket.open(server.wsUrl, paused);
  sockets.push(ws);
  return ws;
}

/** Resolves with the first text message the server sends, once it has arrived. */
async function firstText(ws: RawWebSocket, what: string): Promise<string> {
  const found = (): string | undefined =>
    ws
      .frames()
      .find((frame) => frame.opcode === Opcode.text)
      ?.payload.toString();
  await withTimeout(
    new Promise<void>((resolve) => {
      const check = (): void => {
        if (found() === undefined) return;
        ws.socket.off("data", check);
        resolve();
      };
      ws.socket.on("data", check);
      check();
    }),
    15_000,
    what,
  );
  return found() as string;
}

/** How much the node's peak resident set rose above `baselineBytes`. */
const growthOf = (pid: number, baselineBytes: number): number => memoryOf(pid).peakRssBytes - baselineBytes;

describe("memory abuse against a default node", () => {
  it("copies one-byte fragments out of the reads they arrive in, pongs between them, and closes at the message limit", async () => {
    const { server, pid } = await node();
    const ws = await open(server);
    const baseline = memoryOf(pid).rssBytes;
    // Each write: one byte of the message, then ~64 KiB of unsolicited pongs. A reader that kept
    // the byte as a view would pin the whole read: 2,000 writes would hold about 128 MiB.
    const pongs = Buffer.concat(
      Array.from({ length: 500 }, () => clientFrame(Opcode.pong, Buffer.alloc(125), { mask: MASK })),
    );
    const message = Buffer.from(`{"id":1,"connect":{}}${" ".repeat(2_000)}`);
    for (let i = 0; i < message.length - 1; i++) {
      const fragment = clientFrame(i === 0 ? Opcode.text : Opcode.continuation, message.subarray(i, i + 1), {
        fin: false,
        mask: MASK,
      });
      await ws.write(Buffer.concat([fragment, pongs]));
    }
    await ws.write(clientFrame(Opcode.continuation, message.subarray(message.length - 1), { mask: MASK }));
    expect(JSON.parse(await firstText(ws, "the connect reply"))).toMatchObject({ id: 1, connect: {} });
    expect(growthOf(pid, baseline), "peak RSS growth, bytes (was ~129 MiB)").toBeLessThan(32 * MiB);

    // Fragments past maxMessageBytes (65,536) fail the message, however small each one is.
    const next = await open(server);
    const byte = (opcode: number): Buffer => clientFrame(opcode, " ", { fin: false, mask: MASK });
    await next.write(
      Buffer.concat([byte(Opcode.text), ...Array.from({ length: 70_000 }, () => byte(Opcode.continuation))]),
    );
    const frames = await next.drain();
    expect(closeCodeOf(frames.at(-1) ?? { opcode: 0, payload: Buffer.alloc(0) })).toBe(CloseCode.messageTooBig);
  });

  it("closes a client that pings and never reads with 3003 slow_consumer, its pongs bounded by maxConnectionBytes", async () => {
    // The rate limit off, so the memory budget is what stops it (with it on, 3006 comes first).
    const { server, pid } = await node(["--command-rate-per-second", "0"]);
    const ws = await open(server, true);
    const baseline = memoryOf(pid).rssBytes;
    const pings = Buffer.concat(
      Array.from({ length: 512 }, () => clientFrame(Opcode.ping, Buffer.alloc(125, 0x70), { mask: MASK })),
    );
    let sent = 0;
    for (let i = 0; i < 2_000 && !ws.socket.destroyed; i++) {
      await ws.write(pings);
      sent += pings.length;
    }
    expect(sent).toBeGreaterThan(64 * MiB);
    expect(growthOf(pid, baseline), "peak RSS growth, bytes (was ~288 MiB)").toBeLessThan(40 * MiB);
    const frames = await ws.drain();
    const close = frames.find((frame) => frame.opcode === Opcode.close);
    expect(close && closeCodeOf(close)).toBe(CloseCode.slowConsumer);
    // The budget (4 MiB) plus what the kernel's socket buffers held at both ends of the
    // loopback connection, which autotuning grows to several MiB; unbounded before (~288 MiB).
    const pongBytes = frames.filter((frame) => frame.opcode === Opcode.pong).length * 127;
    expect(pongBytes).toBeLessThan(16 * MiB);
  });

  it("counts pings toward the command rate limit: a flood is answered up to the burst, then closed with 3006", async () => {
    const { server } = await node();
    const ws = await open(server);
    await ws.write(
      Buffer.concat(Array.from({ length: 1_000 }, (_, i) => clientFrame(Opcode.ping, String(i), { mask: MASK }))),
    );
    const frames = await ws.drain();
    const pongs = frames.filter((frame) => frame.opcode === Opcode.pong);
    // commandBurst (200) answered at once, a few more as the bucket refills; the rest refused.
    expect(pongs.length).toBeGreaterThanOrEqual(200);
    expect(pongs.length).toBeLessThan(300);
    expect(pongs[0]?.payload.toString()).toBe("0");
    const close = frames.find((frame) => frame.opcode === Opcode.close);
    expect(close && closeCodeOf(close)).toBe(CloseCode.rateLimited);
  });

  it("counts unfinished input against maxConnectionBytes: past it the connection is closed with 3003", async () => {
    const { server } = await node(["--max-message-bytes", "60000", "--max-connection-bytes", "65536"]);
    const ws = await open(server);
    // 59,000 bytes in all, under maxMessageBytes; but the fragments' buffer has grown to 60,000
    // bytes by the second fragment, and the unfinished third frame is held beside it.
    await ws.write(clientFrame(Opcode.text, " ".repeat(30_000), { fin: false, mask: MASK }));
    await ws.write(clientFrame(Opcode.continuation, " ".repeat(20_000), { fin: false, mask: MASK }));
    await ws.write(clientFrame(Opcode.continuation, " ".repeat(9_000), { mask: MASK }).subarray(0, 8_000));
    const frames = await ws.drain();
    const close = frames.find((frame) => frame.opcode === Opcode.close);
    expect(close && closeCodeOf(close)).toBe(CloseCode.slowConsumer);
  });

  it("holds a frame trickled one byte per read in one buffer", async () => {
    const { server, pid } = await node();
    const clients = await Promise.all(Array.from({ length: 8 }, () => open(server)));
    const baseline = memoryOf(pid).rssBytes;
    const payload = Buffer.from(`{"id":1,"connect":{}}${" ".repeat(30_000)}`);
    const frame = clientFrame(Opcode.text, payload, { mask: MASK });
    // About 240,000 one-byte writes, one per connection per turn of the client's event loop so
    // that most reach the node as separate reads: at ~370 bytes per read kept in an array, ~90 MB.
    await Promise.all(
      clients.map(async (ws) => {
        for (let i = 0; i < frame.length; i++) {
          await ws.write(frame.subarray(i, i + 1));
          await new Promise(setImmediate);
        }
      }),
    );
    for (const ws of clients) expect(JSON.parse(await firstText(ws, "the connect reply"))).toMatchObject({ id: 1 });
    expect(growthOf(pid, baseline), "peak RSS growth, bytes (was ~21 MiB)").toBeLessThan(10 * MiB);
  });

  it("closes a socket that trickles its request headers within headersTimeoutMs, upgrades included", async () => {
    const headersTimeoutMs = 500;
    const { server } = await node(["--headers-timeout-ms", String(headersTimeoutMs), "--request-timeout-ms", "1000"]);
    const requests = [
      upgradeRequest(server.wsUrl),
      `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${"p".repeat(200)}\r\n\r\n`,
    ];
    const results = await Promise.all(
      requests.map(async (request) => {
        const socket = await tcpConnect(server.url);
        sockets.push(socket);
        const startedAt = Date.now();
        let received = "";
        socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
        socket.on("error", () => undefined);
        // One byte every 50 ms: the request would take seconds to complete.
        let sentBytes = 0;
        const trickle = setInterval(() => {
          if (sentBytes < request.length - 4 && !socket.destroyed) socket.write(request.slice(sentBytes, ++sentBytes));
        }, 50);
        try {
          await withTimeout(
            new Promise((resolve) => socket.once("close", resolve)),
            5_000,
            "the server to close a trickling socket",
          );
        } finally {
          clearInterval(trickle);
        }
        return { elapsedMs: Date.now() - startedAt, received };
      }),
    );
    for (const { elapsedMs, received } of results) {
      expect(received).toMatch(/^HTTP\/1\.1 408/);
      expect(elapsedMs).toBeGreaterThanOrEqual(headersTimeoutMs - 50);
      // The deadline plus one check interval (125 ms here) plus slack for a busy machine.
      expect(elapsedMs).toBeLessThan(headersTimeoutMs + 1_500);
    }
  });
});
