import { describe, expect, it } from "vitest";
import { FrameReader, Opcode } from "./frame-reader.js";
import type { FrameSink } from "./frame-reader.js";
import { closeFrame, textFrame } from "./frame-writer.js";

/** An unmasked server frame, as a server writes it. */
function serverFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const n = payload.length;
  const header = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const out = Buffer.alloc(header + n);
  out[0] = (fin ? 0x80 : 0) | opcode;
  if (n < 126) out[1] = n;
  else if (n < 65_536) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
  payload.copy(out, header);
  return out;
}

const text = (s: string): Buffer => serverFrame(Opcode.text, Buffer.from(s));

/** Records what the reader reports, copying payloads (they are views). */
class Recorder implements FrameSink {
  events: string[] = [];
  views: Buffer[] = [];
  onText(payload: Buffer): void {
    this.views.push(payload);
    this.events.push(`text:${payload.toString()}`);
  }
  onBinary(payload: Buffer): void {
    this.events.push(`binary:${payload.length}`);
  }
  onPing(payload: Buffer): void {
    this.events.push(`ping:${payload.toString()}`);
  }
  onClose(code: number, reason: string): void {
    this.events.push(`close:${code}:${reason}`);
  }
  onProtocolError(message: string): void {
    this.events.push(`error:${message}`);
  }
}

function readAll(chunks: Buffer[]): string[] {
  const sink = new Recorder();
  const reader = new FrameReader(sink);
  for (const c of chunks) reader.push(c);
  return sink.events;
}

describe("FrameReader", () => {
  const medium = "m".repeat(300); // 16-bit length
  const stream = Buffer.concat([
    text('{"publication":{"channel":"a","data":"1|1|1|x"}}'),
    serverFrame(Opcode.ping, Buffer.from("p1")),
    text(medium),
    serverFrame(Opcode.text, Buffer.from("frag-"), false),
    serverFrame(Opcode.ping, Buffer.from("mid")), // control frames may come between fragments
    serverFrame(Opcode.continuation, Buffer.from("ment"), false),
    serverFrame(Opcode.continuation, Buffer.from("ed"), true),
    serverFrame(Opcode.binary, Buffer.from([1, 2, 3])),
    text(""),
    serverFrame(Opcode.close, Buffer.concat([Buffer.from([0x0b, 0xb8]), Buffer.from("shutdown")])),
  ]);
  const expected = [
    'text:{"publication":{"channel":"a","data":"1|1|1|x"}}',
    "ping:p1",
    `text:${medium}`,
    "ping:mid",
    "text:frag-mented",
    "binary:3",
    "text:",
    "close:3000:shutdown",
  ];

  it("parses a stream delivered in one chunk", () => {
    expect(readAll([stream])).toEqual(expected);
  });

  it("parses the same stream split at every byte boundary", () => {
    for (let cut = 1; cut < stream.length; cut++) {
      expect(readAll([stream.subarray(0, cut), stream.subarray(cut)]), `cut at ${cut}`).toEqual(expected);
    }
  });

  it("parses the stream one byte at a time, and split in three at many places", () => {
    expect(readAll([...stream].map((b) => Buffer.from([b])))).toEqual(expected);
    for (let a = 1; a < stream.length; a += 7) {
      for (let b = a + 1; b < stream.length; b += 13) {
        expect(readAll([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)])).toEqual(expected);
      }
    }
  });

  it("parses large frames (16- and 64-bit lengths) arriving in many chunks", () => {
    const big = Buffer.alloc(200_000, "b");
    const mid = Buffer.alloc(70_000, "c");
    const all = Buffer.concat([
      text("before"),
      serverFrame(Opcode.text, big),
      serverFrame(Opcode.text, mid),
      text("after"),
    ]);
    for (const size of [1_000, 4_096, 65_536, 333]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < all.length; i += size) chunks.push(all.subarray(i, i + size));
      const sink = new Recorder();
      const reader = new FrameReader(sink);
      for (const c of chunks) reader.push(c);
      expect(sink.events.map((e) => e.length)).toEqual([11, 5 + 200_000, 5 + 70_000, 10]);
    }
  });

  it("hands frames that lie whole in a chunk on without copying them", () => {
    const chunk = Buffer.concat([text("one"), text("two")]);
    const sink = new Recorder();
    new FrameReader(sink).push(chunk);
    expect(sink.views.map((v) => v.buffer === chunk.buffer)).toEqual([true, true]);
  });

  it("copies what it keeps of a chunk, so reused read buffers are safe", () => {
    const frame = text("hello world");
    const shared = Buffer.alloc(64);
    const sink = new Recorder();
    const reader = new FrameReader(sink);
    frame.copy(shared, 0, 0, 5);
    reader.push(shared.subarray(0, 5));
    shared.fill(0); // the next read overwrites the buffer
    frame.copy(shared, 0, 5);
    reader.push(shared.subarray(0, frame.length - 5));
    expect(sink.events).toEqual(["text:hello world"]);
  });

  it("reports a close frame without a code as 1005", () => {
    expect(readAll([serverFrame(Opcode.close, Buffer.alloc(0))])).toEqual(["close:1005:"]);
  });

  it("stops at protocol errors", () => {
    expect(readAll([serverFrame(Opcode.continuation, Buffer.from("x")), text("ignored")])).toEqual([
      "error:continuation frame without a message to continue",
    ]);
    expect(readAll([serverFrame(0x3, Buffer.from("x"))])).toEqual(["error:unknown opcode 3"]);
    expect(readAll([serverFrame(Opcode.ping, Buffer.alloc(126))])).toEqual([
      "error:fragmented or oversized control frame",
    ]);
    const tooBig = new Recorder();
    new FrameReader(tooBig, 100).push(serverFrame(Opcode.text, Buffer.alloc(101)).subarray(0, 10));
    expect(tooBig.events).toEqual(["error:frame of 101 bytes exceeds the 100-byte limit"]);
  });
});

describe("frame writer", () => {
  /** Unmasks a client frame with the reader's rules. */
  function unmaskClientFrame(frame: Buffer): { opcode: number; payload: Buffer } {
    const second = frame.readUInt8(1);
    expect(second & 0x80).toBe(0x80); // masked
    let length = second & 0x7f;
    let at = 2;
    if (length === 126) [length, at] = [frame.readUInt16BE(2), 4];
    else if (length === 127) [length, at] = [frame.readUInt32BE(6), 10];
    const key = frame.subarray(at, at + 4);
    const payload = Buffer.from(frame.subarray(at + 4, at + 4 + length).map((b, i) => b ^ key.readUInt8(i & 3)));
    expect(at + 4 + length).toBe(frame.length);
    return { opcode: frame.readUInt8(0) & 0x0f, payload };
  }

  it("masks text frames of every length class with fresh keys", () => {
    for (const n of [0, 5, 125, 126, 65_535, 65_536, 100_001]) {
      const s = "é".repeat(Math.floor(n / 2)) + "a".repeat(n % 2);
      const { opcode, payload } = unmaskClientFrame(textFrame(s));
      expect(opcode).toBe(Opcode.text);
      expect(payload.toString()).toBe(s);
    }
    const keys = new Set(Array.from({ length: 50 }, () => textFrame("x").subarray(2, 6).toString("hex")));
    expect(keys.size).toBeGreaterThan(45);
  });

  it("writes close frames with code and reason", () => {
    const { opcode, payload } = unmaskClientFrame(closeFrame(1000, "bye"));
    expect(opcode).toBe(Opcode.close);
    expect(payload.readUInt16BE(0)).toBe(1000);
    expect(payload.subarray(2).toString()).toBe("bye");
  });
});
