import { randomFillSync } from "node:crypto";
import { Opcode } from "./frame-reader.js";

/**
 * Client frames must be masked with an unpredictable key (RFC 6455 §5.3). Keys come from a
 * pool of random bytes refilled in bulk, so a frame costs no system call.
 */
const MASK_POOL_BYTES = 64 * 1024;
const maskPool = Buffer.allocUnsafe(MASK_POOL_BYTES);
let maskOffset = MASK_POOL_BYTES;

function nextMaskOffset(): number {
  if (maskOffset + 4 > MASK_POOL_BYTES) {
    randomFillSync(maskPool);
    maskOffset = 0;
  }
  const at = maskOffset;
  maskOffset += 4;
  return at;
}

function headerLength(payloadLength: number): number {
  return (payloadLength < 126 ? 2 : payloadLength < 65_536 ? 4 : 10) + 4;
}

function writeHeader(frame: Buffer, opcode: number, payloadLength: number): number {
  frame[0] = 0x80 | opcode; // FIN: the bench never fragments what it sends
  if (payloadLength < 126) {
    frame[1] = 0x80 | payloadLength;
  } else if (payloadLength < 65_536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(payloadLength, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(payloadLength / 0x1_0000_0000), 2);
    frame.writeUInt32BE(payloadLength >>> 0, 6);
  }
  const keyAt = headerLength(payloadLength) - 4;
  const at = nextMaskOffset();
  maskPool.copy(frame, keyAt, at, at + 4);
  return keyAt;
}

function maskInPlace(frame: Buffer, keyAt: number): void {
  const k0 = frame[keyAt] as number;
  const k1 = frame[keyAt + 1] as number;
  const k2 = frame[keyAt + 2] as number;
  const k3 = frame[keyAt + 3] as number;
  const start = keyAt + 4;
  const end = frame.length;
  let i = start;
  for (; i + 3 < end; i += 4) {
    frame[i] = (frame[i] as number) ^ k0;
    frame[i + 1] = (frame[i + 1] as number) ^ k1;
    frame[i + 2] = (frame[i + 2] as number) ^ k2;
    frame[i + 3] = (frame[i + 3] as number) ^ k3;
  }
  const keys = [k0, k1, k2, k3];
  for (let j = 0; i < end; i++, j++) frame[i] = (frame[i] as number) ^ (keys[j] as number);
}

/** One masked, unfragmented text frame holding `text` (UTF-8), in a single allocation. */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const frame = Buffer.allocUnsafe(headerLength(length) + length);
  const keyAt = writeHeader(frame, Opcode.text, length);
  frame.write(text, keyAt + 4);
  maskInPlace(frame, keyAt);
  return frame;
}

/** One masked control or data frame with `opcode` around `payload` (copied). */
export function frame(opcode: Opcode, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(headerLength(payload.length) + payload.length);
  const keyAt = writeHeader(out, opcode, payload.length);
  out.set(payload, keyAt + 4);
  maskInPlace(out, keyAt);
  return out;
}

/** A masked close frame with `code` and an optional short `reason`. */
export function closeFrame(code: number, reason = ""): Buffer {
  const body = Buffer.allocUnsafe(2 + Buffer.byteLength(reason));
  body.writeUInt16BE(code, 0);
  body.write(reason, 2);
  return frame(Opcode.close, body);
}
