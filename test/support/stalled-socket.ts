import { connect } from "node:net";
import type { Socket } from "node:net";
import { withTimeout } from "./raw-client.js";

/** A client frame (text, masked with a zero key: valid, and the payload stays readable). */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  if (payload.length >= 126) throw new Error("stalled-socket frames are small by design");
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

/**
 * A WebSocket client at the TCP level that sends a few frames and then stops reading, the way
 * a phone on a bad link does: whatever the server writes piles up in its buffers. `drain()`
 * reads everything that arrived (once resumed) until the server closes.
 */
export class StalledSocket {
  private constructor(private readonly socket: Socket) {}

  static async open(wsUrl: string, frames: readonly unknown[]): Promise<StalledSocket> {
    const url = new URL(wsUrl);
    const socket = connect(Number(url.port), url.hostname);
    await withTimeout(
      new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject)),
      5_000,
      "tcp connect",
    );
    socket.write(
      `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: hubcast.v1.json\r\n\r\n`,
    );
    let head = Buffer.alloc(0);
    await withTimeout(
      new Promise<void>((resolve) => {
        const onData = (chunk: Buffer): void => {
          head = Buffer.concat([head, chunk]);
          if (head.includes("\r\n\r\n")) {
            socket.off("data", onData);
            socket.pause();
            resolve();
          }
        };
        socket.on("data", onData);
      }),
      5_000,
      "handshake",
    );
    if (!head.toString("latin1").startsWith("HTTP/1.1 101"))
      throw new Error(`upgrade refused: ${head.toString("latin1").split("\r\n")[0]}`);
    for (const frame of frames) socket.write(clientFrame(JSON.stringify(frame)));
    return new StalledSocket(socket);
  }

  /** Resumes reading and resolves with every byte received until the server closes. */
  drain(timeoutMs = 15_000): Promise<Buffer> {
    const chunks: Buffer[] = [];
    const done = new Promise<Buffer>((resolve) => {
      this.socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      this.socket.once("close", () => resolve(Buffer.concat(chunks)));
      this.socket.on("error", () => undefined); // a reset ends the stream; "close" follows
      this.socket.resume();
    });
    return withTimeout(done, timeoutMs, "the server to close the stalled socket");
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The status code of the WebSocket close frame at the end of `received`, if there is one. */
export function closeCodeAtEnd(received: Buffer): number | undefined {
  for (let i = received.length - 4; i >= 0; i--) {
    if (received[i] === 0x88 && (received[i + 1] ?? 0) < 126 && i + 2 + (received[i + 1] ?? 0) === received.length) {
      return received.readUInt16BE(i + 2);
    }
  }
  return undefined;
}
