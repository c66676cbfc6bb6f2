import { readFileSync } from "node:fs";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { withTimeout } from "./frame-inbox.js";

/** Opens a TCP connection to the host and port of `url`. */
export async function tcpConnect(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.setNoDelay(true);
  await withTimeout(
    new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject)),
    5_000,
    "tcp connect",
  );
  return socket;
}

/** The opening handshake of a JSON-subprotocol WebSocket client for `wsUrl`. */
export function upgradeRequest(wsUrl: string): string {
  const url = new URL(wsUrl);
  return (
    `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: hubcast.v1.json\r\n\r\n`
  );
}

/**
 * A WebSocket at the byte level, for sending what no library would: the upgrade is done, and
 * every byte the server sends after the 101 response is collected in {@link received} (or left
 * unread in the kernel while the socket is paused, as a client that never reads would).
 */
export class RawWebSocket {
  private chunks: Buffer[] = [];
  readonly closed: Promise<void>;

  private constructor(
    readonly socket: Socket,
    rest: Buffer,
  ) {
    if (rest.length > 0) this.chunks.push(rest);
    socket.on("data", (chunk: Buffer) => this.chunks.push(chunk));
    socket.on("error", () => undefined); // a reset ends the stream; "close" follows
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
  }

  /** Connects and upgrades; the socket is left paused when `paused`, so nothing more is read. */
  static async open(wsUrl: string, paused = false): Promise<RawWebSocket> {
    const socket = await tcpConnect(wsUrl);
    socket.write(upgradeRequest(wsUrl));
    const rest = await withTimeout(
      new Promise<Buffer>((resolve, reject) => {
        let head = Buffer.alloc(0);
        const onData = (chunk: Buffer): void => {
          head = Buffer.concat([head, chunk]);
          const end = head.indexOf("\r\n\r\n");
          if (end === -1) return;
          socket.off("data", onData);
          if (paused) socket.pause();
          const status = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
          if (status.startsWith("HTTP/1.1 101")) resolve(head.subarray(end + 4));
          else reject(new Error(`upgrade refused: ${status}`));
        };
        socket.on("data", onData);
      }),
      5_000,
      "handshake",
    );
    return new RawWebSocket(socket, rest);
  }

  /** Writes `bytes`, resolving once the socket can take more (backpressure), or at once if it has closed. */
  write(bytes: Buffer): Promise<void> {
    if (this.socket.destroyed || this.socket.writableEnded) return Promise.resolve();
    if (this.socket.write(bytes)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      this.socket.once("drain", done).once("close", done);
    });
  }

  /** The frames received so far, parsed. */
  frames(): ServerFrame[] {
    return parseServerFrames(Buffer.concat(this.chunks));
  }

  /** Resumes reading, answers the server's close frame as a client would, and waits until the socket closes. */
  async drain(timeoutMs = 15_000): Promise<ServerFrame[]> {
    const answer = (): void => {
      const close = this.frames().find((frame) => frame.opcode === 0x8);
      if (close === undefined) return;
      this.socket.off("data", answer);
      // A masked close frame with a zero key, echoing the code (RFC 6455 §5.5.1).
      const code = close.payload.subarray(0, 2);
      this.socket.end(Buffer.concat([Buffer.from([0x88, 0x80 | code.length, 0, 0, 0, 0]), code]));
    };
    this.socket.on("data", answer);
    this.socket.resume();
    answer();
    await withTimeout(this.closed, timeoutMs, "the server to close the socket");
    return this.frames();
  }

  /** Destroys the socket (test cleanup). */
  destroy(): void {
    this.socket.destroy();
  }
}

/** One frame from the server: unmasked, so it is read as it comes. */
export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/** The whole frames in `bytes` (RFC 6455 §5.2), a trailing partial frame left out. */
export function parseServerFrames(bytes: Buffer): ServerFrame[] {
  const frames: ServerFrame[] = [];
  let offset = 0;
  while (offset + 2 <= bytes.length) {
    let length = (bytes[offset + 1] as number) & 0x7f;
    let header = 2;
    if (length === 126) {
      if (offset + 4 > bytes.length) break;
      length = bytes.readUInt16BE(offset + 2);
      header = 4;
    } else if (length === 127) {
      if (offset + 10 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(offset + 2));
      header = 10;
    }
    if (offset + header + length > bytes.length) break;
    frames.push({
      opcode: (bytes[offset] as number) & 0x0f,
      payload: bytes.subarray(offset + header, offset + header + length),
    });
    offset += header + length;
  }
  return frames;
}

/** The close code in a close frame's payload, or `undefined` when it has none. */
export const closeCodeOf = (frame: ServerFrame): number | undefined =>
  frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined;

/** A process's resident set now and its peak so far, in bytes (Linux: /proc/<pid>/status). */
export function memoryOf(pid: number): { rssBytes: number; peakRssBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rssBytes: kib("VmRSS"), peakRssBytes: kib("VmHWM") };
}
