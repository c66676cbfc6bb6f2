import { randomBytes } from "node:crypto";
import { constants, inflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { MessageDeflater, negotiateDeflate } from "./transport/deflate.js";
import { buildFrame } from "./transport/frame.js";

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** What a permessage-deflate receiver does (RFC 7692 §7.2.2): append the tail, inflate. */
const inflate = (payload: Buffer): Buffer =>
  inflateRawSync(Buffer.concat([payload, TRAILER]), { finishFlush: constants.Z_SYNC_FLUSH });

/** The payload of a frame shorter than 64 KiB, and its first header byte. */
function unframe(frame: Buffer): { first: number; payload: Buffer } {
  const lengthByte = (frame[1] ?? 0) & 0x7f;
  const offset = lengthByte === 126 ? 4 : 2;
  return { first: frame[0] ?? 0, payload: frame.subarray(offset) };
}

const compressible = (bytes: number): Buffer =>
  Buffer.from(JSON.stringify({ rows: "abcdefgh".repeat(bytes / 8) }).slice(0, bytes));

describe("buildFrame with compressed", () => {
  it("sets RSV1 and only RSV1 beside FIN and the opcode", () => {
    expect(buildFrame(Buffer.from("x"), false, true)[0]).toBe(0x80 | 0x40 | 0x1);
    expect(buildFrame(Buffer.from("x"), true, true)[0]).toBe(0x80 | 0x40 | 0x2);
    expect(buildFrame(Buffer.from("x"), false)[0]).toBe(0x81);
  });
});

describe("MessageDeflater", () => {
  const deflater = new MessageDeflater({ thresholdBytes: 1024, level: 3 });

  it("compresses a payload at the threshold into an RSV1 frame that inflates back", () => {
    const payload = compressible(1024);
    const frame = deflater.frame(payload, false);
    expect(frame).toBeDefined();
    const { first, payload: body } = unframe(frame as Buffer);
    expect(first & 0x40).toBe(0x40);
    expect(body.length).toBeLessThan(payload.length / 4);
    expect(inflate(body).equals(payload)).toBe(true);
  });

  it("drops the sync-flush tail, as RFC 7692 §7.2.1 asks", () => {
    const deflated = deflater.deflate(compressible(4096));
    expect(deflated.subarray(-4).equals(TRAILER)).toBe(false);
  });

  it("leaves payloads below the threshold, and ones deflate cannot shrink, uncompressed", () => {
    expect(deflater.frame(compressible(1023), false)).toBeUndefined();
    expect(deflater.frame(randomBytes(4096), true)).toBeUndefined();
  });

  it("compresses every payload that shrinks with threshold 0", () => {
    expect(new MessageDeflater({ thresholdBytes: 0, level: 1 }).frame(compressible(64), false)).toBeDefined();
  });
});

describe("negotiateDeflate", () => {
  it.each([
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_max_window_bits=15; client_max_window_bits=10",
    'permessage-deflate; client_max_window_bits="12"',
    "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=10",
  ])("accepts %j", (header) => {
    expect(negotiateDeflate(header)).toMatch(
      /^permessage-deflate; server_no_context_takeover; client_no_context_takeover/,
    );
  });

  it.each([
    [undefined, "no header"],
    ["", "an empty header"],
    ["x-webkit-deflate-frame", "no permessage-deflate offer"],
    ["permessage-deflate; server_max_window_bits=10", "a smaller server window than the shared frames use"],
    ["permessage-deflate; server_max_window_bits", "a server window without a value"],
    ["permessage-deflate; client_max_window_bits=16", "a window out of range"],
    ["permessage-deflate; mystery", "an unknown parameter"],
    ["permessage-deflate; mystery, permessage-deflate; server_max_window_bits=9, x-foo", "only offers it cannot serve"],
    ["permessage-deflate; server_no_context_takeover; server_no_context_takeover", "a repeated parameter"],
    ["permessage-deflate; server_no_context_takeover=1", "a flag with a value"],
    [",, ,", "empty elements only"],
    ['permessage-deflate; client_max_window_bits="1,2"', "a quoted comma"],
  ])("declines %j (%s)", (header: string | undefined, _why: string) => {
    expect(negotiateDeflate(header)).toBeUndefined();
  });

  it.each([
    [
      "permessage-deflate; server_max_window_bits=10, permessage-deflate",
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    ],
    [
      "permessage-deflate; mystery, permessage-deflate; server_max_window_bits=15",
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15",
    ],
    [
      "x-foo; a=b, permessage-deflate; client_max_window_bits=16, permessage-deflate; client_max_window_bits",
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    ],
    [
      "permessage-deflate; server_max_window_bits, ;;, permessage-deflate; server_max_window_bits=15, permessage-deflate",
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15",
    ],
    [
      "permessage-deflate, permessage-deflate; mystery",
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    ],
    ["permessage-deflate,", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
  ])("accepts the first offer it can serve in %j", (header, answer) => {
    expect(negotiateDeflate(header)).toBe(answer);
  });

  it("answers a server window offer with the same window, and never names the client's window", () => {
    expect(negotiateDeflate("permessage-deflate; server_max_window_bits=15; client_max_window_bits=10")).toBe(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15",
    );
    expect(negotiateDeflate("permessage-deflate; client_max_window_bits")).toBe(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    );
  });
});
