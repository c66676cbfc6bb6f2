const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PONG = 0xa;

/**
 * Builds one unmasked, unfragmented server WebSocket frame (RFC 6455 §5.2) in a single
 * buffer, so fan-out frames a payload once and writes the same bytes to every socket.
 * `compressed` sets RSV1: the payload is a permessage-deflate message (RFC 7692 §6), already
 * deflated, which only a connection that negotiated the extension may receive.
 */
export function buildFrame(payload: Uint8Array, binary: boolean, compressed = false): Buffer {
  return frameWithOpcode(binary ? OP_BINARY : OP_TEXT, payload, compressed);
}

/** A close frame: the code and a reason cut to fit the 125-byte control frame limit. */
export function closeFrame(code: number, reason: string): Buffer {
  let text = Buffer.from(reason);
  if (text.length > 123) text = Buffer.from(text.subarray(0, 123).toString().replace(/\uFFFD$/u, ""));
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return frameWithOpcode(OP_CLOSE, payload, false);
}

/** The pong answering a ping: the same payload back (RFC 6455 §5.5.3). */
export function pongFrame(payload: Uint8Array): Buffer {
  return frameWithOpcode(OP_PONG, payload, false);
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
