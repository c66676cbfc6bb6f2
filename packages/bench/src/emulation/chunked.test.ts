import { describe, expect, it } from "vitest";
import { ChunkedDecoder } from "./chunked.js";
import type { BodySink } from "./chunked.js";

/** Collects the decoded body (copied: the decoder hands on views) and how it ended. */
class Body implements BodySink {
  parts: Buffer[] = [];
  ended = false;
  error: string | undefined;
  onBody(data: Buffer): void {
    this.parts.push(Buffer.from(data));
  }
  onBodyEnd(): void {
    this.ended = true;
  }
  onBodyError(message: string): void {
    this.error = message;
  }
  get text(): string {
    return Buffer.concat(this.parts).toString();
  }
}

/** `chunks` in chunked encoding, as Node's http server writes a streamed response. */
function encode(chunks: string[], last = true): Buffer {
  const body = chunks.map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`).join("");
  return Buffer.from(last ? `${body}0\r\n\r\n` : body);
}

describe("ChunkedDecoder", () => {
  const wire = encode(['{"emulation":{"stream":"n.abc"}}\n', '{"id":1,"connect":{}}\n{"pub', 'lication":{}}\n']);
  const expected = '{"emulation":{"stream":"n.abc"}}\n{"id":1,"connect":{}}\n{"publication":{}}\n';

  it("decodes a body fed whole", () => {
    const body = new Body();
    const decoder = new ChunkedDecoder(body);
    decoder.push(wire);
    expect(body.text).toBe(expected);
    expect(body.ended).toBe(true);
    expect(decoder.done).toBe(true);
  });

  it("decodes the same body cut at every byte: inside size lines, chunk data and CRLFs", () => {
    for (let cut = 1; cut < wire.length; cut++) {
      const body = new Body();
      const decoder = new ChunkedDecoder(body);
      decoder.push(wire.subarray(0, cut));
      decoder.push(wire.subarray(cut));
      expect(body.text, `cut at ${cut}`).toBe(expected);
      expect(body.ended, `cut at ${cut}`).toBe(true);
    }
  });

  it("decodes it fed one byte at a time, and upper-case hex sizes", () => {
    const big = "x".repeat(300); // size 12C
    const bytes = Buffer.from(`12C\r\n${big}\r\n0\r\n\r\n`);
    const body = new Body();
    const decoder = new ChunkedDecoder(body);
    for (const byte of bytes) decoder.push(Buffer.from([byte]));
    expect(body.text).toBe(big);
    expect(body.ended).toBe(true);
  });

  it("skips chunk extensions", () => {
    const body = new Body();
    new ChunkedDecoder(body).push(Buffer.from("3;name=value\r\nabc\r\n0\r\n\r\n"));
    expect(body.text).toBe("abc");
    expect(body.ended).toBe(true);
  });

  it("keeps going while the stream is open (no last chunk)", () => {
    const body = new Body();
    const decoder = new ChunkedDecoder(body);
    decoder.push(encode(["a\n", "b\n"], false));
    expect(body.text).toBe("a\nb\n");
    expect(body.ended).toBe(false);
    expect(decoder.done).toBe(false);
  });

  it("reports bytes that are not chunked encoding, and reads nothing after", () => {
    const body = new Body();
    const decoder = new ChunkedDecoder(body);
    decoder.push(Buffer.from('{"not":"chunked"}\n'));
    expect(body.error).toMatch(/bad chunk size byte 0x7b/);
    decoder.push(encode(["late"]));
    expect(body.parts).toEqual([]);
  });

  it("reports a chunk not followed by CRLF", () => {
    const body = new Body();
    new ChunkedDecoder(body).push(Buffer.from("2\r\nabcd"));
    expect(body.text).toBe("ab");
    expect(body.error).toMatch(/not followed by CRLF/);
  });
});
