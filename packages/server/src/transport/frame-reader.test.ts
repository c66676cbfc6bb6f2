import { constants, deflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { Recorder, clientFrame } from "../../../../test/support/client-frames.js";
import { FrameReader, isValidCloseCode } from "./frame-reader.js";
import { Opcode } from "./frame.js";

const { text: TEXT, binary: BINARY, continuation: CONTINUATION, close: CLOSE, ping: PING, pong: PONG } = Opcode;

function read(chunks: Buffer[], options: { max?: number; inflate?: boolean } = {}): unknown[] {
  const recorder = new Recorder();
  const reader = new FrameReader(recorder, { maxMessageBytes: options.max ?? 1024 }, options.inflate ?? false);
  for (const chunk of chunks) reader.push(chunk);
  return recorder.events;
}

/** Splits bytes into one-byte chunks: the worst case for reassembly. */
const bytewise = (buffer: Buffer): Buffer[] => [...buffer].map((byte) => Buffer.from([byte]));

function closePayload(code: number, reason: string | Buffer = ""): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, typeof reason === "string" ? Buffer.from(reason) : reason]);
}

/** A message as a permessage-deflate client sends it: raw DEFLATE, sync flush, tail removed. */
function deflated(text: string): Buffer {
  const out = deflateRawSync(Buffer.from(text), { finishFlush: constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

describe("FrameReader", () => {
  it("reads text and binary messages, several per chunk", () => {
    const both = Buffer.concat([clientFrame(TEXT, "héllo"), clientFrame(BINARY, Buffer.from([0, 1, 2, 255]))]);
    expect(read([both])).toEqual([
      { message: "héllo", binary: false },
      { message: Buffer.from([0, 1, 2, 255]), binary: true },
    ]);
  });

  it("reassembles frames that arrive one byte at a time, with 16-bit and 64-bit lengths", () => {
    const medium = "m".repeat(300);
    const large = "l".repeat(70_000);
    const bytes = Buffer.concat([clientFrame(TEXT, medium), clientFrame(TEXT, large)]);
    expect(read(bytewise(bytes), { max: 100_000 })).toEqual([
      { message: medium, binary: false },
      { message: large, binary: false },
    ]);
  });

  it("joins a fragmented message, with control frames between its fragments", () => {
    const frames = [
      clientFrame(TEXT, "one ", { fin: false }),
      clientFrame(PING, "are you there"),
      clientFrame(CONTINUATION, "two ", { fin: false }),
      clientFrame(PONG, "ignored"),
      clientFrame(CONTINUATION, "three"),
    ];
    expect(read([Buffer.concat(frames)])).toEqual([
      { ping: "are you there" },
      { message: "one two three", binary: false },
    ]);
  });

  it("reports a close frame's code and reason, 1005 when it has none, and reads nothing after it", () => {
    expect(read([clientFrame(CLOSE, closePayload(4001, "bye")), clientFrame(TEXT, "late")])).toEqual([
      { close: 4001, reason: "bye" },
    ]);
    expect(read([clientFrame(CLOSE, "")])).toEqual([{ close: 1005, reason: "" }]);
  });

  it.each([
    ["an unmasked frame", clientFrame(TEXT, "x", { masked: false }), 1002],
    ["reserved bits without an extension", clientFrame(TEXT, "x", { rsv: 0b100 }), 1002],
    ["RSV2", clientFrame(TEXT, "x", { rsv: 0b010 }), 1002],
    ["an unknown data opcode", clientFrame(0x3, "x"), 1002],
    ["an unknown control opcode", clientFrame(0xb, "x"), 1002],
    ["a fragmented control frame", clientFrame(PING, "x", { fin: false }), 1002],
    ["a control frame over 125 bytes", clientFrame(PING, "p".repeat(126)), 1002],
    ["a continuation with nothing to continue", clientFrame(CONTINUATION, "x"), 1002],
    [
      "a new message inside a fragmented one",
      Buffer.concat([clientFrame(TEXT, "a", { fin: false }), clientFrame(TEXT, "b")]),
      1002,
    ],
    ["a text message that is not UTF-8", clientFrame(TEXT, Buffer.from([0xc3, 0x28])), 1007],
    ["a close frame with a one-byte payload", clientFrame(CLOSE, Buffer.from([3])), 1002],
    ["a close frame with code 1005", clientFrame(CLOSE, closePayload(1005)), 1002],
    ["a close frame with code 999", clientFrame(CLOSE, closePayload(999)), 1002],
    ["a close frame whose reason is not UTF-8", clientFrame(CLOSE, closePayload(1000, Buffer.from([0xff]))), 1007],
    ["a frame over maxMessageBytes", clientFrame(BINARY, Buffer.alloc(1025)), 1009],
    [
      "fragments over maxMessageBytes together",
      Buffer.concat([
        clientFrame(BINARY, Buffer.alloc(600), { fin: false }),
        clientFrame(CONTINUATION, Buffer.alloc(600)),
      ]),
      1009,
    ],
  ])("fails the connection on %s", (_what, bytes, code) => {
    const events = read([bytes]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ error: code });
  });

  it("refuses an oversized frame from its header alone, before its payload is buffered", () => {
    expect(read([clientFrame(BINARY, Buffer.alloc(0), { length: 2 ** 40 })])).toMatchObject([{ error: 1009 }]);
    expect(read([clientFrame(BINARY, Buffer.alloc(0), { length: 5_000 })])).toMatchObject([{ error: 1009 }]);
  });

  it("keeps a binary message's bytes as they are, UTF-8 or not", () => {
    expect(read([clientFrame(BINARY, Buffer.from([0xc3, 0x28]))])).toEqual([
      { message: Buffer.from([0xc3, 0x28]), binary: true },
    ]);
  });

  it("reports nothing more once it has failed", () => {
    expect(read([clientFrame(TEXT, "x", { masked: false }), clientFrame(TEXT, "after")])).toHaveLength(1);
  });

  describe("with permessage-deflate", () => {
    it("inflates compressed messages, whole or fragmented, and passes uncompressed ones through", () => {
      const compressed = deflated("hello hello hello hello");
      const half = Math.floor(compressed.length / 2);
      const frames = [
        clientFrame(TEXT, compressed, { rsv: 0b100 }),
        clientFrame(TEXT, compressed.subarray(0, half), { rsv: 0b100, fin: false }),
        clientFrame(CONTINUATION, compressed.subarray(half)),
        clientFrame(TEXT, "plain"),
      ];
      expect(read(bytewise(Buffer.concat(frames)), { inflate: true })).toEqual([
        { message: "hello hello hello hello", binary: false },
        { message: "hello hello hello hello", binary: false },
        { message: "plain", binary: false },
      ]);
    });

    it("fails with 1009 when the inflated message is over maxMessageBytes", () => {
      const bomb = deflated("z".repeat(100_000));
      expect(bomb.length).toBeLessThan(1024);
      expect(read([clientFrame(TEXT, bomb, { rsv: 0b100 })], { inflate: true })).toMatchObject([{ error: 1009 }]);
    });

    it.each([
      ["data that is not DEFLATE", clientFrame(TEXT, Buffer.from([0xff, 0xff, 0xff, 0xff]), { rsv: 0b100 }), 1007],
      [
        "RSV1 on a continuation frame",
        Buffer.concat([clientFrame(TEXT, "a", { fin: false }), clientFrame(CONTINUATION, "b", { rsv: 0b100 })]),
        1002,
      ],
      ["RSV1 on a control frame", clientFrame(PING, "x", { rsv: 0b100 }), 1002],
    ])("fails the connection on %s", (_what, bytes, code) => {
      expect(read([bytes], { inflate: true })).toMatchObject([{ error: code }]);
    });
  });
});

describe("FrameReader held input", () => {
  function reader(max = 100_000): { recorder: Recorder; reader: FrameReader } {
    const recorder = new Recorder();
    return { recorder, reader: new FrameReader(recorder, { maxMessageBytes: max }, false) };
  }

  it("holds a trickled frame in one buffer at most twice its size, growing it a logarithmic number of times", () => {
    const { recorder, reader: r } = reader();
    const frame = clientFrame(BINARY, Buffer.alloc(50_000, 7));
    let peak = 0;
    for (const byte of bytewise(frame)) {
      r.push(byte);
      peak = Math.max(peak, r.heldBytes);
    }
    expect(peak).toBeLessThanOrEqual(2 * frame.length);
    expect(recorder.heldGrowths).toBeLessThan(25);
    expect(recorder.events).toHaveLength(1);
    expect(r.heldBytes).toBe(0);
  });

  it("copies fragments out of the reads they came in, so a read is never pinned by a byte of it", () => {
    const { recorder, reader: r } = reader();
    const padding = Array.from({ length: 400 }, () => clientFrame(PONG, Buffer.alloc(125)));
    for (const letter of "abcd") {
      const chunk = Buffer.concat([
        clientFrame(letter === "a" ? TEXT : CONTINUATION, letter, { fin: false }),
        ...padding,
      ]);
      r.push(chunk);
      chunk.fill(0); // the reader must not hold views into it
      expect(r.heldBytes).toBeLessThan(1_024);
    }
    r.push(clientFrame(CONTINUATION, "e"));
    expect(recorder.events).toEqual([{ message: "abcde", binary: false }]);
    expect(r.heldBytes).toBe(0);
  });

  it("fails a fragmented text message with 1007 at its first fragment that cannot be UTF-8", () => {
    const { recorder, reader: r } = reader();
    r.push(clientFrame(TEXT, Buffer.from([0x61, 0xe2, 0x82]), { fin: false })); // a, then half a €
    r.push(clientFrame(CONTINUATION, Buffer.from([0xac, 0x62]), { fin: false })); // the € completed
    expect(recorder.events).toEqual([]);
    r.push(clientFrame(CONTINUATION, Buffer.from([0xf0, 0x28]), { fin: false })); // no final fragment yet
    expect(recorder.events).toMatchObject([{ error: 1007 }]);
    expect(r.heldBytes).toBe(0);
    // A message ending inside a character is invalid too.
    expect(
      read([clientFrame(TEXT, Buffer.from([0xe2]), { fin: false }), clientFrame(CONTINUATION, Buffer.from([0x82]))]),
    ).toMatchObject([{ error: 1007 }]);
  });

  it("after closing, releases what it holds, skips data frames unbuffered, and still reads control frames", () => {
    const { recorder, reader: r } = reader();
    r.push(clientFrame(BINARY, "start", { fin: false }));
    const big = clientFrame(CONTINUATION, Buffer.alloc(60_000), { fin: false });
    r.push(big.subarray(0, 100));
    expect(r.heldBytes).toBeGreaterThan(0);
    r.closing();
    expect(r.heldBytes).toBe(0);
    r.push(big.subarray(100));
    r.push(Buffer.concat([clientFrame(CONTINUATION, "more"), clientFrame(TEXT, "late"), clientFrame(PING, "p")]));
    for (const byte of bytewise(clientFrame(BINARY, Buffer.alloc(3_000)))) {
      r.push(byte);
      expect(r.heldBytes).toBeLessThanOrEqual(64);
    }
    r.push(clientFrame(CLOSE, closePayload(1000)));
    expect(recorder.events).toEqual([{ ping: "p" }, { close: 1000, reason: "" }]);
  });
});

describe("isValidCloseCode", () => {
  it("accepts the codes a peer may send and refuses the reserved ones", () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999])
      expect(isValidCloseCode(code)).toBe(true);
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]) expect(isValidCloseCode(code)).toBe(false);
  });
});
