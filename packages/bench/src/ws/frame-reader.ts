/**
 * An incremental RFC 6455 frame parser for the client side (server frames are unmasked).
 * Frames that lie whole inside one TCP chunk are handed on as views into that chunk, with no
 * copy; only the bytes of a frame split across chunks are copied (so the caller may reuse its
 * read buffer), and joined once its last byte arrives; only a fragmented message is joined.
 * Control frames may come between fragments.
 */

/** WebSocket opcodes. */
export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/**
 * Receives what the reader parses. Payload buffers are views that are valid only during the
 * call: copy what must outlive it.
 */
export interface FrameSink {
  /** A complete text message. */
  onText(payload: Buffer): void;
  /** A complete binary message. */
  onBinary(payload: Buffer): void;
  /** A ping; the sink answers with a pong carrying the same payload. */
  onPing(payload: Buffer): void;
  /** A close frame; `code` is 1005 when the frame has no code. */
  onClose(code: number, reason: string): void;
  /** The stream broke the protocol; nothing more will be parsed. */
  onProtocolError(message: string): void;
}

/** The largest message the reader accepts. @default 64 MiB */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Parses a server's byte stream into frames for a {@link FrameSink}; one per connection. */
export class FrameReader {
  /** Bytes of an unfinished frame, kept until `needed` bytes are there. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private needed = 0;
  /** Fragments of an unfinished message, and its opcode. */
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private fragmentOpcode = 0;
  private failed = false;

  constructor(
    private readonly sink: FrameSink,
    private readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
  ) {}

  /** Feeds the next chunk of the stream. */
  push(chunk: Buffer): void {
    if (this.failed) return;
    let data = chunk;
    if (this.pendingBytes > 0) {
      // Chunks may live in a read buffer that the next read reuses: keep copies.
      this.pending.push(Buffer.from(chunk));
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < this.needed) return;
      data = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let offset = 0;
    while (!this.failed) {
      const frameEnd = this.parseFrame(data, offset);
      if (frameEnd < 0) break;
      offset = frameEnd;
    }
    if (this.failed || offset >= data.length) return;
    const rest = data === chunk ? Buffer.from(data.subarray(offset)) : data.subarray(offset);
    this.pending.push(rest);
    this.pendingBytes = rest.length;
    this.needed = this.frameLength(rest);
  }

  /** Total length of the frame starting at `buf[0]`, or a lower bound while its header is incomplete. */
  private frameLength(buf: Buffer): number {
    if (buf.length < 2) return 2;
    const len7 = (buf[1] as number) & 0x7f;
    const mask = ((buf[1] as number) & 0x80) !== 0 ? 4 : 0;
    if (len7 < 126) return 2 + mask + len7;
    if (len7 === 126) return buf.length < 4 ? 4 : 4 + mask + buf.readUInt16BE(2);
    if (buf.length < 10) return 10;
    return 10 + mask + buf.readUInt32BE(2) * 0x1_0000_0000 + buf.readUInt32BE(6);
  }

  /** Parses one frame at `offset`; returns the offset after it, or -1 when it is incomplete. */
  private parseFrame(data: Buffer, offset: number): number {
    const available = data.length - offset;
    if (available < 2) return -1;
    const b0 = data[offset] as number;
    const b1 = data[offset + 1] as number;
    let length = b1 & 0x7f;
    let header = 2;
    if (length === 126) {
      if (available < 4) return -1;
      length = data.readUInt16BE(offset + 2);
      header = 4;
    } else if (length === 127) {
      if (available < 10) return -1;
      const high = data.readUInt32BE(offset + 2);
      if (high > 0x1f_ffff) return this.fail("frame length beyond 2^53");
      length = high * 0x1_0000_0000 + data.readUInt32BE(offset + 6);
      header = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) header += 4;
    if (length > this.maxMessageBytes)
      return this.fail(`frame of ${length} bytes exceeds the ${this.maxMessageBytes}-byte limit`);
    if (available < header + length) return -1;
    if ((b0 & 0x70) !== 0) return this.fail("reserved bits set (no extension was negotiated)");
    let payload = data.subarray(offset + header, offset + header + length);
    if (masked) payload = unmask(payload, data.subarray(offset + header - 4, offset + header));
    this.dispatch((b0 & 0x80) !== 0, b0 & 0x0f, payload);
    return offset + header + length;
  }

  private dispatch(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case Opcode.text:
      case Opcode.binary:
        if (this.fragmentOpcode !== 0) return void this.fail("new message before the fragmented one ended");
        if (fin) return this.deliver(opcode, payload);
        this.fragmentOpcode = opcode;
        return this.addFragment(payload);
      case Opcode.continuation:
        if (this.fragmentOpcode === 0) return void this.fail("continuation frame without a message to continue");
        this.addFragment(payload);
        if (fin && !this.failed) {
          const message = Buffer.concat(this.fragments, this.fragmentBytes);
          const messageOpcode = this.fragmentOpcode;
          this.fragments = [];
          this.fragmentBytes = 0;
          this.fragmentOpcode = 0;
          this.deliver(messageOpcode, message);
        }
        return;
      case Opcode.ping:
      case Opcode.pong:
      case Opcode.close:
        if (!fin || payload.length > 125) return void this.fail("fragmented or oversized control frame");
        if (opcode === Opcode.ping) this.sink.onPing(payload);
        else if (opcode === Opcode.close)
          this.sink.onClose(closeCode(payload), payload.length > 2 ? payload.toString("utf8", 2) : "");
        return;
      default:
        return void this.fail(`unknown opcode ${opcode}`);
    }
  }

  private addFragment(payload: Buffer): void {
    this.fragmentBytes += payload.length;
    if (this.fragmentBytes > this.maxMessageBytes)
      return void this.fail(`message exceeds the ${this.maxMessageBytes}-byte limit`);
    // The fragment is a view into a chunk that will be reused: keep a copy.
    this.fragments.push(Buffer.from(payload));
  }

  private deliver(opcode: number, payload: Buffer): void {
    if (opcode === Opcode.text) this.sink.onText(payload);
    else this.sink.onBinary(payload);
  }

  private fail(message: string): -1 {
    this.failed = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.fragments = [];
    this.sink.onProtocolError(message);
    return -1;
  }
}

function closeCode(payload: Buffer): number {
  return payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
}

function unmask(payload: Buffer, key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = (payload[i] as number) ^ (key[i & 3] as number);
  return out;
}
