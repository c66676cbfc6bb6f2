/**
 * Builds one unmasked, unfragmented server WebSocket frame (RFC 6455 §5.2) in a single
 * buffer, so fan-out frames a payload once and writes the same bytes to every socket.
 * `compressed` sets RSV1: the payload is a permessage-deflate message (RFC 7692 §6), already
 * deflated, which only a connection that negotiated the extension may receive.
 */
export function buildFrame(payload: Uint8Array, binary: boolean, compressed = false): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x80 | (compressed ? 0x40 : 0) | (binary ? 0x2 : 0x1); // FIN + RSV1 + opcode
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
