import { randomBytes } from "node:crypto";
import type { FrameSink } from "../../packages/server/src/transport/frame-reader.js";

/** Everything a reader reported, in order. */
export class Recorder implements FrameSink {
  readonly events: unknown[] = [];
  onMessage(data: Buffer, binary: boolean): void {
    this.events.push({ message: binary ? Buffer.from(data) : data.toString(), binary });
  }
  onPing(payload: Buffer): void {
    this.events.push({ ping: payload.toString() });
  }
  onCloseFrame(code: number, reason: string): void {
    this.events.push({ close: code, reason });
  }
  onProtocolError(code: number, message: string): void {
    this.events.push({ error: code, message });
  }
  /** How many times the reader said it holds more. */
  heldGrowths = 0;
  onHeldBytesGrew(): void {
    this.heldGrowths += 1;
  }
}

export interface FrameOptions {
  fin?: boolean;
  rsv?: number;
  masked?: boolean;
  /** Claimed payload length, when it is to differ from the payload's (headers alone). */
  length?: number;
  /** The masking key; random when not given. */
  mask?: Buffer;
}

/** A client frame as RFC 6455 §5.2 lays it out, masked with a random key unless told otherwise. */
export function clientFrame(opcode: number, payload: Buffer | string, options: FrameOptions = {}): Buffer {
  const data = typeof payload === "string" ? Buffer.from(payload) : payload;
  const length = options.length ?? data.length;
  const masked = options.masked ?? true;
  const header: number[] = [((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode];
  const maskBit = masked ? 0x80 : 0;
  if (length < 126) header.push(maskBit | length);
  else if (length < 65_536) header.push(maskBit | 126, length >> 8, length & 0xff);
  else {
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(length));
    header.push(maskBit | 127, ...big);
  }
  if (!masked) return Buffer.concat([Buffer.from(header), data]);
  const mask = options.mask ?? randomBytes(4);
  const body = Buffer.from(data.map((byte, i) => byte ^ (mask[i % 4] as number)));
  return Buffer.concat([Buffer.from(header), mask, body]);
}
