import type { Framer } from "./transport.js";
/** WebSocket opcodes (RFC 6455 §5.2), shared by the frames the node builds and the frames it reads. */
export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/**
 * Builds one unmasked, unfragmented server WebSocket frame (RFC 6455 §5.2) in a single
 * buffer, so fan-out frames a payload once and writes the same bytes to every socket.
 * `compressed` sets RSV1: the payload is a permessage-deflate message (RFC 7692 §6), already
 * deflated, which only a connection that negotiated the extension may receive.
 */
export function buildFrame(payload: Uint8Array, binary: boolean, compressed = false): Buffer {
  return frameWithOpcode(binary ? Opcode.binary : Opcode.text, payload, compressed);
}

/** Uncompressed WebSocket data frames: the framer of connections without permessage-deflate. */
export const websocketFramer: Framer = { frame: (payload, binary) => buildFrame(payload, binary) };

/** A close frame: the code and a reason cut to fit the 125-byte control frame limit. */
export function closeFrame(code: number, reason: string): Buffer {
  let text = Buffer.from(reason);
  if (text.length > 123)
    text = Buffer.from(
      text
        .subarray(0, 123)
        .toString()
        .replace(/\uFFFD$/u, ""),
    );
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return frameWithOpcode(Opcode.close, payload, false);
}

/** The pong answering a ping: the same payload back (RFC 6455 §5.5.3). */
export function pongFrame(payload: Uint8Array): Buffer {
  return frameWithOpcode(Opcode.pong, payload, false);
}

function frameWithOpcode(opcode: number, payload: Uint8Array, compressed: boolean): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x80 | (compressed ? 0x40 : 0) | opcode; // FIN + RSV1 + opcode
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.set(payload, headerLength);
  return frame;
}
