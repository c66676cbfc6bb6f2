import { isUtf8 } from "node:buffer";
import { constants, inflateRawSync } from "node:zlib";
import { CloseCode } from "@hubcast/protocol";
import { Opcode } from "./frame.js";

/** Close codes that are never sent on the wire, only reported (RFC 6455 §7.4.1). */
export const WsClose = {
  /** A close frame without a code. */
  noStatus: 1005,
  /** The socket closed without a close frame. */
  abnormal: 1006,
} as const;

/** What the reader hands on: whole messages, control frames, and the reason it gave up. */
export interface FrameSink {
  onMessage(data: Buffer, binary: boolean): void;
  onPing(payload: Buffer): void;
  /** A close frame: its code (1005 when it carried none) and reason. */
  onCloseFrame(code: number, reason: string): void;
  /** The peer broke the protocol; the connection must be failed with `code`. */
  onProtocolError(code: number, message: string): void;
}

/** Limits shared by every reader of a node; one object, not a copy per connection. */
export interface ReaderLimits {
  /** Largest message accepted, after reassembly and, if compressed, after inflating. */
  maxMessageBytes: number;
}


/** The empty stored block a sender strips from each compressed message (RFC 7692 §7.2.2). */
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** Enough of a frame to tell its kind and whether it is masked. */
const MIN_HEADER = 2;

/**
 * Parses the frames a client sends (RFC 6455 §5): unmasks them, reassembles fragmented
 * messages, checks UTF-8 in text messages, inflates permessage-deflate messages when the
 * connection negotiated them (no context takeover: each message stands alone, RFC 7692), and
 * enforces the message size limit before buffering a byte past it.
 *
 * Idle connections hold nothing but a few numbers: buffers exist only while a frame or a
 * fragmented message is incomplete.
 */
export class FrameReader {
  /** Bytes received that do not yet make a whole frame. */
  private pending: Buffer[] | undefined;
  private pendingBytes = 0;
  /** How many bytes must be pending before parsing can make progress. */
  private needed = MIN_HEADER;
  /** Fragments of a message whose final frame has not arrived. */
  private fragments: Buffer[] | undefined;
  private fragmentBytes = 0;
  private fragmentBinary = false;
  private fragmentCompressed = false;
  private failed = false;

  constructor(
    private readonly sink: FrameSink,
    private readonly limits: ReaderLimits,
    /** Whether the connection negotiated permessage-deflate, so RSV1 may be set. */
    private readonly inflate: boolean,
  ) {}

  /** Feeds bytes read from the socket. */
  push(chunk: Buffer): void {
    if (this.failed) return;
    let buffer: Buffer;
    if (this.pending === undefined) {
      if (chunk.length < this.needed) {
        this.pending = [chunk];
        this.pendingBytes = chunk.length;
        return;
      }
      buffer = chunk;
    } else {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < this.needed) return;
      buffer = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = undefined;
      this.pendingBytes = 0;
    }
    const consumed = this.parse(buffer);
    if (consumed < buffer.length && !this.failed) {
      const rest = buffer.subarray(consumed);
      this.pending = [rest];
      this.pendingBytes = rest.length;
    }
  }

  /** Parses every whole frame in `buffer`; returns how many bytes it consumed. */
  private parse(buffer: Buffer): number {
    let offset = 0;
    while (!this.failed) {
      const available = buffer.length - offset;
      if (available < MIN_HEADER) {
        this.needed = MIN_HEADER;
        return offset;
      }
      const first = buffer[offset] as number;
      const second = buffer[offset + 1] as number;
      const fin = (first & 0x80) !== 0;
      const rsv1 = (first & 0x40) !== 0;
      const opcode = first & 0x0f;
      if ((first & 0x30) !== 0 || (rsv1 && (!this.inflate || opcode === Opcode.continuation || opcode >= Opcode.close))) {
        return this.fail(CloseCode.protocolError, "reserved bits set without a negotiated extension");
      }
      if ((second & 0x80) === 0) return this.fail(CloseCode.protocolError, "client frames must be masked");
      let length = second & 0x7f;
      let headerLength = 2;
      if (length === 126) {
        headerLength = 4;
        if (available < headerLength + 4) return this.waitFor(offset, headerLength + 4);
        length = buffer.readUInt16BE(offset + 2);
      } else if (length === 127) {
        headerLength = 10;
        if (available < headerLength + 4) return this.waitFor(offset, headerLength + 4);
        const high = buffer.readUInt32BE(offset + 2);
        // Anything at or past 2^32 bytes is over every limit this node can be given.
        if (high !== 0) return this.fail(CloseCode.messageTooBig, "message larger than maxMessageBytes");
        length = buffer.readUInt32BE(offset + 6);
      }
      const control = opcode >= Opcode.close;
      if (control) {
        if (!fin) return this.fail(CloseCode.protocolError, "control frames must not be fragmented");
        if (length > 125) return this.fail(CloseCode.protocolError, "control frame payload longer than 125 bytes");
      } else if (!this.checkDataFrame(opcode, length)) {
        return offset;
      }
      const maskAt = offset + headerLength;
      const frameLength = headerLength + 4 + length;
      if (available < frameLength) return this.waitFor(offset, frameLength);
      const payload = buffer.subarray(maskAt + 4, offset + frameLength);
      unmask(payload, buffer, maskAt);
      offset += frameLength;
      if (control) this.controlFrame(opcode, payload);
      else this.dataFrame(opcode, fin, rsv1, payload);
    }
    return offset;
  }

  /** Checks a data frame's opcode against the fragmentation state, and its size against the limit. */
  private checkDataFrame(opcode: number, length: number): boolean {
    if (opcode === Opcode.continuation) {
      if (this.fragments === undefined) return this.refuse(CloseCode.protocolError, "continuation frame without a message to continue");
    } else if (opcode === Opcode.text || opcode === Opcode.binary) {
      if (this.fragments !== undefined) return this.refuse(CloseCode.protocolError, "new message before the fragmented one was finished");
    } else {
      return this.refuse(CloseCode.protocolError, `unknown opcode ${opcode}`);
    }
    if (this.fragmentBytes + length > this.limits.maxMessageBytes) return this.refuse(CloseCode.messageTooBig, "message larger than maxMessageBytes");
    return true;
  }

  private dataFrame(opcode: number, fin: boolean, compressed: boolean, payload: Buffer): void {
    if (opcode !== Opcode.continuation) {
      this.fragmentBinary = opcode === Opcode.binary;
      this.fragmentCompressed = compressed;
      if (fin) {
        this.message(payload);
        return;
      }
      this.fragments = [];
    }
    const fragments = this.fragments as Buffer[];
    fragments.push(payload);
    this.fragmentBytes += payload.length;
    if (!fin) return;
    const whole = Buffer.concat(fragments, this.fragmentBytes);
    this.fragments = undefined;
    this.fragmentBytes = 0;
    this.message(whole);
  }

  private message(payload: Buffer): void {
    let data = payload;
    if (this.fragmentCompressed) {
      try {
        data = inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), {
          maxOutputLength: this.limits.maxMessageBytes,
          finishFlush: constants.Z_SYNC_FLUSH,
        });
      } catch (err) {
        const tooBig = (err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
        this.fail(tooBig ? CloseCode.messageTooBig : CloseCode.invalidPayload, tooBig ? "message larger than maxMessageBytes once inflated" : "compressed message could not be inflated");
        return;
      }
    }
    if (!this.fragmentBinary && !isUtf8(data)) {
      this.fail(CloseCode.invalidPayload, "text message is not valid UTF-8");
      return;
    }
    this.sink.onMessage(data, this.fragmentBinary);
  }

  private controlFrame(opcode: number, payload: Buffer): void {
    if (opcode === Opcode.ping) {
      this.sink.onPing(payload);
    } else if (opcode === Opcode.close) {
      this.closeFrame(payload);
    } else if (opcode !== Opcode.pong) {
      this.fail(CloseCode.protocolError, `unknown opcode ${opcode}`);
    }
  }

  private closeFrame(payload: Buffer): void {
    if (payload.length === 0) {
      this.sink.onCloseFrame(WsClose.noStatus, "");
      return;
    }
    if (payload.length === 1) {
      this.fail(CloseCode.protocolError, "close frame with a one-byte payload");
      return;
    }
    const code = payload.readUInt16BE(0);
    if (!isValidCloseCode(code)) {
      this.fail(CloseCode.protocolError, `invalid close code ${code}`);
      return;
    }
    const reason = payload.subarray(2);
    if (!isUtf8(reason)) {
      this.fail(CloseCode.invalidPayload, "close reason is not valid UTF-8");
      return;
    }
    // Nothing after a close frame is read (RFC 6455 §5.5.1).
    this.failed = true;
    this.sink.onCloseFrame(code, reason.toString());
  }

  /** Keeps the bytes from `offset` and waits until `total` of them are there. */
  private waitFor(offset: number, total: number): number {
    this.needed = total;
    return offset;
  }

  private fail(code: number, message: string): number {
    this.failed = true;
    this.pending = undefined;
    this.fragments = undefined;
    this.sink.onProtocolError(code, message);
    return 0;
  }

  /** {@link fail}, for checks that answer whether parsing may go on. */
  private refuse(code: number, message: string): false {
    this.fail(code, message);
    return false;
  }
}

/** XORs `payload` in place with the four-byte mask at `buffer[maskAt]` (RFC 6455 §5.3). */
function unmask(payload: Buffer, buffer: Buffer, maskAt: number): void {
  const m0 = buffer[maskAt] as number;
  const m1 = buffer[maskAt + 1] as number;
  const m2 = buffer[maskAt + 2] as number;
  const m3 = buffer[maskAt + 3] as number;
  const length = payload.length;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    payload[i] = (payload[i] as number) ^ m0;
    payload[i + 1] = (payload[i + 1] as number) ^ m1;
    payload[i + 2] = (payload[i + 2] as number) ^ m2;
    payload[i + 3] = (payload[i + 3] as number) ^ m3;
  }
  if (i < length) payload[i] = (payload[i] as number) ^ m0;
  if (i + 1 < length) payload[i + 1] = (payload[i + 1] as number) ^ m1;
  if (i + 2 < length) payload[i + 2] = (payload[i + 2] as number) ^ m2;
}

/** Codes a peer may send in a close frame (RFC 6455 §7.4; 1004–1006 and 1015 are never sent). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}
