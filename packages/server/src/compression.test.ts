import { randomBytes } from "node:crypto";
import { constants, inflateRawSync } from "node:zlib";
import type { Codec } from "@hubcast/protocol";
import { JsonCodec } from "@hubcast/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Subscriber } from "./fanout.js";
import { writeToAll } from "./fanout.js";
import { MessageDeflater, acceptsDeflateOffer, negotiatedDeflate } from "./transport/deflate.js";
import { buildFrame } from "./transport/frame.js";

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** What a permessage-deflate receiver does (RFC 7692 §7.2.2): append the tail, inflate. */
const inflate = (payload: Buffer): Buffer => inflateRawSync(Buffer.concat([payload, TRAILER]), { finishFlush: constants.Z_SYNC_FLUSH });

/** The payload of a frame shorter than 64 KiB, and its first header byte. */
function unframe(frame: Buffer): { first: number; payload: Buffer } {
  const lengthByte = (frame[1] ?? 0) & 0x7f;
  const offset = lengthByte === 126 ? 4 : 2;
  return { first: frame[0] ?? 0, payload: frame.subarray(offset) };
}

const compressible = (bytes: number): Buffer => Buffer.from(JSON.stringify({ rows: "abcdefgh".repeat(bytes / 8) }).slice(0, bytes));

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

describe("acceptsDeflateOffer", () => {
  it.each([
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_max_window_bits=15; client_max_window_bits=10",
    'permessage-deflate; client_max_window_bits="12"',
    "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=10",
  ])("accepts %j", (header) => {
    expect(acceptsDeflateOffer(header)).toBe(true);
  });

  it.each([
    [undefined, "no header"],
    ["", "an empty header"],
    ["x-webkit-deflate-frame", "no permessage-deflate offer"],
    ["permessage-deflate; server_max_window_bits=10", "a smaller server window than the shared frames use"],
    ["permessage-deflate; server_max_window_bits=10, permessage-deflate", "a first offer with a smaller server window"],
    ["permessage-deflate; server_max_window_bits", "a server window without a value"],
    ["permessage-deflate; client_max_window_bits=16", "a window out of range"],
    ["permessage-deflate; mystery", "an unknown parameter (ws would answer 400)"],
    ["permessage-deflate, permessage-deflate; mystery", "an unknown parameter in a later offer (ws checks them all)"],
    ["permessage-deflate; server_no_context_takeover; server_no_context_takeover", "a repeated parameter"],
    ["permessage-deflate; server_no_context_takeover=1", "a flag with a value"],
    ["permessage-deflate,", "an empty element"],
    ['permessage-deflate; client_max_window_bits="1,2"', "a quoted comma"],
  ])("declines %j (%s)", (header: string | undefined, _why: string) => {
    expect(acceptsDeflateOffer(header)).toBe(false);
  });
});

describe("negotiatedDeflate", () => {
  it("reads ws's comma-separated extension names", () => {
    expect(negotiatedDeflate("permessage-deflate")).toBe(true);
    expect(negotiatedDeflate("")).toBe(false);
    expect(negotiatedDeflate("x-other, permessage-deflate")).toBe(true);
  });
});

/** A subscriber that records the frames written to it. */
class FakeSubscriber implements Subscriber {
  readonly frames: Buffer[] = [];
  constructor(
    readonly codec: Codec,
    readonly deflater: MessageDeflater | undefined,
  ) {}
  writeFrame(frame: Buffer): void {
    this.frames.push(frame);
  }
  resubscribeRequired(): void {}
}

/** A second codec: JSON in binary frames, so its encoding and frames differ from JsonCodec's. */
const binaryJsonCodec = (): Codec => Object.assign(Object.create(new JsonCodec()) as Codec, { binary: true });

describe("writeToAll with compression", () => {
  afterEach(() => vi.restoreAllMocks());
  const deflater = new MessageDeflater({ thresholdBytes: 1024, level: 3 });
  const json = new JsonCodec();

  it("deflates once per payload for any number of compressing subscribers, and frames each variant once", () => {
    const deflate = vi.spyOn(deflater, "deflate");
    const subscribers = Array.from({ length: 50 }, (_, i) => new FakeSubscriber(json, i % 5 === 0 ? undefined : deflater));
    const payload = compressible(4096);
    const sent = vi.fn();
    writeToAll(subscribers, () => payload, sent);
    expect(deflate).toHaveBeenCalledTimes(1);
    const compressed = subscribers.filter((s) => s.deflater !== undefined).map((s) => s.frames[0]);
    const plain = subscribers.filter((s) => s.deflater === undefined).map((s) => s.frames[0]);
    expect(new Set(compressed).size).toBe(1); // the same Buffer, not equal copies
    expect(new Set(plain).size).toBe(1);
    expect((compressed[0]?.[0] ?? 0) & 0x40).toBe(0x40);
    expect((plain[0]?.[0] ?? 0) & 0x40).toBe(0);
    expect(inflate(unframe(compressed[0] as Buffer).payload).equals(payload)).toBe(true);
    // Bytes counted as written: 40 compressed frames and 10 plain ones.
    expect(sent).toHaveBeenCalledWith(50, 40 * (compressed[0]?.length ?? 0) + 10 * (plain[0]?.length ?? 0));
  });

  it("deflates once per codec when subscribers of two codecs interleave", () => {
    const deflate = vi.spyOn(deflater, "deflate");
    const binary = binaryJsonCodec();
    const subscribers = Array.from({ length: 20 }, (_, i) => new FakeSubscriber(i % 2 === 0 ? json : binary, deflater));
    const encode = vi.fn((codec: Codec) => compressible(codec.binary ? 2048 : 4096));
    writeToAll(subscribers, encode, () => undefined);
    expect(encode).toHaveBeenCalledTimes(2);
    expect(deflate).toHaveBeenCalledTimes(2);
    expect(new Set(subscribers.map((s) => s.frames[0])).size).toBe(2);
  });

  it("sends payloads below the threshold plain to compressing subscribers, without deflating", () => {
    const deflate = vi.spyOn(deflater, "deflate");
    const subscribers = [new FakeSubscriber(json, deflater), new FakeSubscriber(json, undefined)];
    writeToAll(subscribers, () => compressible(100), () => undefined);
    expect(deflate).not.toHaveBeenCalled();
    expect(subscribers[0]?.frames[0]).toBe(subscribers[1]?.frames[0]);
    expect((subscribers[0]?.frames[0]?.[0] ?? 0) & 0x40).toBe(0);
  });
});
