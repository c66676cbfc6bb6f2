import { isUtf8 } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UTF8_BOUNDARY, UTF8_INVALID, utf8Continue } from "./utf8.js";

/** The state after feeding `chunks` one after another. */
function feed(chunks: Uint8Array[]): number {
  return chunks.reduce((state, chunk) => utf8Continue(state, chunk), UTF8_BOUNDARY);
}

const bytes = (...values: number[]): Buffer => Buffer.from(values);

describe("utf8Continue", () => {
  it("accepts a character split across chunks, and is incomplete until its last byte", () => {
    const euro = Buffer.from("€"); // e2 82 ac
    const afterTwo = feed([euro.subarray(0, 1), euro.subarray(1, 2)]);
    expect(afterTwo).not.toBe(UTF8_BOUNDARY);
    expect(afterTwo).not.toBe(UTF8_INVALID);
    expect(utf8Continue(afterTwo, euro.subarray(2))).toBe(UTF8_BOUNDARY);
    const emoji = Buffer.from("a😀b");
    expect(feed([...emoji].map((b) => bytes(b)))).toBe(UTF8_BOUNDARY);
  });

  it("fails at the first byte that no continuation can make valid", () => {
    expect(feed([bytes(0x61), bytes(0xff)])).toBe(UTF8_INVALID);
    expect(feed([bytes(0xc0), bytes(0x80)])).toBe(UTF8_INVALID); // overlong
    expect(utf8Continue(UTF8_BOUNDARY, bytes(0xc0))).toBe(UTF8_INVALID);
    expect(feed([bytes(0xed), bytes(0xa0)])).toBe(UTF8_INVALID); // surrogate U+D800
    expect(feed([bytes(0xf4), bytes(0x90)])).toBe(UTF8_INVALID); // past U+10FFFF
    expect(feed([bytes(0xe0), bytes(0x80)])).toBe(UTF8_INVALID); // overlong three-byte form
    expect(feed([bytes(0xf0), bytes(0x80)])).toBe(UTF8_INVALID); // overlong four-byte form
    expect(feed([bytes(0xe2), bytes(0x41)])).toBe(UTF8_INVALID); // continuation missing
    expect(utf8Continue(UTF8_INVALID, bytes(0x41))).toBe(UTF8_INVALID);
  });

  it("agrees with the native check on any bytes split anywhere", () => {
    const chunked = fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat(64), { maxLength: 8 }));
    fc.assert(
      fc.property(chunked, ([data, cuts]) => {
        const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((from, i) => data.subarray(from, points[i] ?? data.length));
        const state = feed(chunks);
        const buffer = Buffer.from(data);
        expect(state === UTF8_BOUNDARY).toBe(isUtf8(buffer));
        // Invalid as soon as no continuation can help: some prefix is already refused.
        if (state === UTF8_INVALID) expect(isUtf8(Buffer.concat([buffer, Buffer.from("\u{10FFFF}")]))).toBe(false);
      }),
      { seed: 6455, numRuns: 2_000 },
    );
  });

  it("accepts text made of any code points, split at any byte", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 40 }), fc.nat(200), (text, at) => {
        const data = Buffer.from(text);
        const cut = at % (data.length + 1);
        expect(feed([data.subarray(0, cut), data.subarray(cut)])).toBe(UTF8_BOUNDARY);
      }),
      { seed: 3629, numRuns: 1_000 },
    );
  });
});
