import { isUtf8 } from "node:buffer";
import { constants, inflateRawSync } from "node:zlib";
import { CloseCode } from "@hubcast/protocol";
import { Opcode } from "./frame.js";
import { UTF8_BOUNDARY, UTF8_INVALID, utf8Continue } from "./utf8.js";

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
  /** {@link FrameReader.heldBytes} grew while reading: the time to check a memory budget. */
  onHeldBytesGrew(): void;
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
/** The smallest buffer a reader allocates for held input, so a trickle does not reallocate per byte. */
const MIN_CAPACITY = 64;

/**
 * Parses the frames a client sends (RFC 6455 §5): unmasks them, reassembles fragmented
 * messages, checks UTF-8 in text messages (fragment by fragment, so a bad message fails at
 * its first bad fragment), inflates permessage-deflate messages when the connection
 * negotiated them (no context takeover: each message stands alone, RFC 7692), and enforces
 * the message size limit before buffering a byte past it.
 *
 * Idle connections hold nothing but a few numbers: buffers exist only while a frame or a
 * fragmented message is incomplete. What is held is always a copy in one buffer of its own
 * (never a view into a socket read, which would pin the whole read, nor a pooled slice,
 * which would pin an 8 KiB slab), grown geometrically; {@link heldBytes} is what it costs.
 */
export class FrameReader {
  /**
   * Bytes held for input not yet complete: the partial frame plus the assembled fragments,
   * as allocated. Kept as a field so budget checks on the write path are a read.
   */
  heldBytes = 0;
  /** Bytes received that do not yet make a whole frame, copied; `pendingLength` of it used. */
  private pending: Buffer | undefined;
  private pendingLength = 0;
  /** How many bytes must be pending before parsing can make progress. */
  private needed = MIN_HEADER;
  /** Whether the frame being waited for is a data frame whose header has been read (so it can be skipped). */
  private awaitingData = false;
  /** Bytes of a discarded data frame still to come and be dropped. */
  private skip = 0;
  /** Whether a fragmented message is under way. */
  private inMessage = false;
  /** The payloads of its fragments so far, copied; `assembledLength` of it used. */
  private assembled: Buffer | undefined;
  private assembledLength = 0;
  private fragmentBinary = false;
  private fragmentCompressed = false;
  /** UTF-8 state of an uncompressed fragmented text message, carried from fragment to fragment. */
  private utf8 = UTF8_BOUNDARY;
  private failed = false;
  /** Set once the node has sent its close frame: data frames are skipped, only control frames are read. */
  private discarding = false;

  constructor(
    private readonly sink: FrameSink,
    private readonly limits: ReaderLimits,
    /** Whether the connection negotiated permessage-deflate, so RSV1 may be set. */
    private readonly inflate: boolean,
  ) {}

  /**
   * Whether the reader holds nothing between frames: no partial frame, no fragments, nothing to
   * skip, not failed or closing. An idle reader is the same as a new one, so its connection may
   * drop it and make another for the next read.
   */
  get idle(): boolean {
    return this.pending === undefined && this.skip === 0 && !this.inMessage && !this.failed && !this.discarding;
  }

  /**
   * Feeds bytes read from the socket. Calls {@link FrameSink.onHeldBytesGrew} once at the
   * end when this read made the reader hold more.
   */
  push(chunk: Buffer): void {
    const heldBefore = this.heldBytes;
    let offset = 0;
    while (offset < chunk.length && !this.failed) {
      if (this.skip > 0) {
        const dropped = Math.min(this.skip, chunk.length - offset);
        this.skip -= dropped;
        offset += dropped;
      } else if (this.pending !== undefined) {
        offset = this.fillPending(chunk, offset);
      } else {
        offset += this.parse(chunk.subarray(offset));
        if (this.failed || this.skip > 0 || offset === chunk.length) continue;
        this.keep(chunk, offset, chunk.length);
        offset = chunk.length;
      }
    }
    if (this.heldBytes > heldBefore && !this.failed) this.sink.onHeldBytesGrew();
  }

  /**
   * Stops assembling messages, as the node has sent its close frame: what is held for data
   * frames is released and later data frames are skipped unbuffered, but control frames
   * are still read so the peer's close frame is seen (RFC 6455 §5.5.1).
   */
  closing(): void {
    if (this.discarding) return;
    this.discarding = true;
    this.inMessage = false;
    this.setAssembled(undefined, 0);
    if (this.awaitingData) this.skipPendingFrame();
  }

  /** Drops the data frame being waited for: what is pending of it now, the rest as it arrives. */
  private skipPendingFrame(): void {
    this.skip = this.needed - this.pendingLength;
    this.setPending(undefined, 0);
    this.needed = MIN_HEADER;
    this.awaitingData = false;
  }

  /** Copies bytes of `chunk` from `offset` into the pending frame, parses it once whole; returns the new offset. */
  private fillPending(chunk: Buffer, offset: number): number {
    if (this.discarding && this.awaitingData) {
      this.skipPendingFrame();
      return offset;
    }
    const take = Math.min(this.needed - this.pendingLength, chunk.length - offset);
    this.keep(chunk, offset, offset + take);
    if (this.pendingLength < this.needed) return offset + take;
    const whole = (this.pending as Buffer).subarray(0, this.pendingLength);
    // Pending holds at most one frame: either parsing takes all of it, or only learns how much more it needs.
    if (this.parse(whole) === whole.length && !this.failed) this.setPending(undefined, 0);
    return offset + take;
  }

  /** Appends `chunk[from, to)` to the pending bytes, growing their buffer toward {@link needed}. */
  private keep(chunk: Buffer, from: number, to: number): void {
    const length = this.pendingLength + to - from;
    let pending = this.pending;
    if (pending === undefined || pending.length < length) {
      pending = grown(pending, this.pendingLength, length, Math.max(this.needed, length));
      this.setPending(pending, this.pendingLength);
    }
    chunk.copy(pending, this.pendingLength, from, to);
    this.pendingLength = length;
  }

  /** Parses every whole frame in `buffer`; returns how many bytes it consumed. */
  private parse(buffer: Buffer): number {
    let offset = 0;
    while (!this.failed) {
      const available = buffer.length - offset;
      if (available < MIN_HEADER) return this.waitFor(offset, MIN_HEADER, false);
      const first = buffer[offset] as number;
      const second = buffer[offset + 1] as number;
      const fin = (first & 0x80) !== 0;
      const rsv1 = (first & 0x40) !== 0;
      const opcode = first & 0x0f;
      if (
        (first & 0x30) !== 0 ||
        (rsv1 && (!this.inflate || opcode === Opcode.continuation || opcode >= Opcode.close))
      ) {
        return this.fail(CloseCode.protocolError, "reserved bits set without a negotiated extension");
      }
      if ((second & 0x80) === 0) return this.fail(CloseCode.protocolError, "client frames must be masked");
      let length = second & 0x7f;
      let headerLength = 2;
      if (length === 126) {
        headerLength = 4;
        if (available < headerLength + 4) return this.waitFor(offset, headerLength + 4, false);
        length = buffer.readUInt16BE(offset + 2);
      } else if (length === 127) {
        headerLength = 10;
        if (available < headerLength + 4) return this.waitFor(offset, headerLength + 4, false);
        const high = buffer.readUInt32BE(offset + 2);
        // Anything at or past 2^32 bytes is over every limit this node can be given.
        if (high !== 0) return this.fail(CloseCode.messageTooBig, "message larger than maxMessageBytes");
        length = buffer.readUInt32BE(offset + 6);
      }
      const control = opcode >= Opcode.close;
      const frameLength = headerLength + 4 + length;
      if (control) {
        if (!fin) return this.fail(CloseCode.protocolError, "control frames must not be fragmented");
        if (length > 125) return this.fail(CloseCode.protocolError, "control frame payload longer than 125 bytes");
      } else if (this.discarding && opcode <= Opcode.binary) {
        // After our close frame a data frame is dropped as it streams in, never buffered.
        if (available >= frameLength) {
          offset += frameLength;
          continue;
        }
        this.skip = frameLength - available;
        return buffer.length;
      } else if (!this.checkDataFrame(opcode, length)) {
        return offset;
      }
      if (available < frameLength) return this.waitFor(offset, frameLength, !control);
      this.awaitingData = false;
      const maskAt = offset + headerLength;
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
      if (!this.inMessage)
        return this.refuse(CloseCode.protocolError, "continuation frame without a message to continue");
    } else if (opcode === Opcode.text || opcode === Opcode.binary) {
      if (this.inMessage)
        return this.refuse(CloseCode.protocolError, "new message before the fragmented one was finished");
    } else {
      return this.refuse(CloseCode.protocolError, `unknown opcode ${opcode}`);
    }
    if (this.assembledLength + length > this.limits.maxMessageBytes)
      return this.refuse(CloseCode.messageTooBig, "message larger than maxMessageBytes");
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
      this.inMessage = true;
      this.utf8 = UTF8_BOUNDARY;
    }
    if (!this.fragmentBinary && !this.fragmentCompressed) {
      this.utf8 = utf8Continue(this.utf8, payload);
      if (this.utf8 === UTF8_INVALID || (fin && this.utf8 !== UTF8_BOUNDARY)) {
        this.fail(CloseCode.invalidPayload, "text message is not valid UTF-8");
        return;
      }
    }
    this.assemble(payload);
    if (!fin) return;
    const whole = this.assembled === undefined ? Buffer.alloc(0) : this.assembled.subarray(0, this.assembledLength);
    this.inMessage = false;
    this.setAssembled(undefined, 0);
    // Already checked fragment by fragment; compressed text is checked once inflated.
    this.message(whole, !this.fragmentCompressed);
  }

  /** Copies a fragment's payload after the ones before it. */
  private assemble(payload: Buffer): void {
    if (payload.length === 0) return;
    const length = this.assembledLength + payload.length;
    let assembled = this.assembled;
    if (assembled === undefined || assembled.length < length) {
      assembled = grown(assembled, this.assembledLength, length, this.limits.maxMessageBytes);
      this.setAssembled(assembled, this.assembledLength);
    }
    payload.copy(assembled, this.assembledLength);
    this.assembledLength = length;
  }

  private message(payload: Buffer, utf8Checked = false): void {
    let data = payload;
    if (this.fragmentCompressed) {
      try {
        data = inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), {
          maxOutputLength: this.limits.maxMessageBytes,
          finishFlush: constants.Z_SYNC_FLUSH,
        });
      } catch (err) {
        const tooBig = (err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
        this.fail(
          tooBig ? CloseCode.messageTooBig : CloseCode.invalidPayload,
          tooBig ? "message larger than maxMessageBytes once inflated" : "compressed message could not be inflated",
        );
        return;
      }
    }
    if (!this.fragmentBinary && !utf8Checked && !isUtf8(data)) {
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
    this.stop();
    this.sink.onCloseFrame(code, reason.toString());
  }

  /** Keeps the bytes from `offset` and waits until `total` of them are there. */
  private waitFor(offset: number, total: number, data: boolean): number {
    this.needed = total;
    this.awaitingData = data;
    return offset;
  }

  private fail(code: number, message: string): number {
    this.stop();
    this.sink.onProtocolError(code, message);
    return 0;
  }

  /** Reads no more and releases everything held. */
  private stop(): void {
    this.failed = true;
    this.inMessage = false;
    this.setPending(undefined, 0);
    this.setAssembled(undefined, 0);
  }

  /** {@link fail}, for checks that answer whether parsing may go on. */
  private refuse(code: number, message: string): false {
    this.fail(code, message);
    return false;
  }

  private setPending(buffer: Buffer | undefined, length: number): void {
    this.heldBytes += (buffer?.length ?? 0) - (this.pending?.length ?? 0);
    this.pending = buffer;
    this.pendingLength = length;
  }

  private setAssembled(buffer: Buffer | undefined, length: number): void {
    this.heldBytes += (buffer?.length ?? 0) - (this.assembled?.length ?? 0);
    this.assembled = buffer;
    this.assembledLength = length;
  }
}

/**
 * A buffer of its own (not from the shared pool) able to hold `length` bytes, with the first
 * `used` bytes of `current` copied in: at least double `current`, at most `limit`, so a
 * byte-by-byte trickle costs O(log n) allocations.
 */
function grown(current: Buffer | undefined, used: number, length: number, limit: number): Buffer {
  const capacity = Math.max(length, Math.min(limit, Math.max((current?.length ?? 0) * 2, MIN_CAPACITY)));
  const next = Buffer.allocUnsafeSlow(capacity);
  current?.copy(next, 0, 0, used);
  return next;
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
