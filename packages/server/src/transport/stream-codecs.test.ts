import type { StreamPosition } from "@hubcast/protocol";
import { describe, expect, it } from "vitest";
import { parseCursor, SseCursorFramer, streamCodecs } from "./stream-codecs.js";

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8");
const data = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const publication = (channel: string, offset: number, epoch = "E1") => ({ channel, offset, epoch, data: data(offset) });
const position = (t: string): StreamPosition | undefined => {
  const [epoch, offset] = t.split(":");
  return epoch === undefined || offset === undefined ? undefined : { epoch, offset: Number(offset) };
};

describe("SSE encodings", () => {
  it("gives a one-channel stream's publications and subscribed event the position as their id", () => {
    expect(text(streamCodecs.sseOne.encodePublication(publication("a", 7)))).toBe(
      'id: E1:7\ndata: {"channel":"a","offset":7,"epoch":"E1","data":7}\n\n',
    );
    const subscribed = { channel: "a", recoverable: true, position: { epoch: "E1", offset: 3 } };
    expect(text(streamCodecs.sseOne.encodeSubscribed(subscribed))).toMatch(/^id: E1:3\nevent: subscribed\n/);
  });

  it("gives a multi-channel stream's events one id holding every channel's position, per connection", () => {
    const marked = streamCodecs.sseMany.encodePublication(publication("b", 5));
    expect(text(marked)).toMatch(/^:@"b" E1:5\ndata: /);
    const one = new SseCursorFramer(["a", "b"]);
    const other = new SseCursorFramer(["b"]);
    expect(text(one.frame(marked))).toBe(`id: ,E1:5\n${text(marked).split("\n").slice(1).join("\n")}`);
    expect(text(one.frame(streamCodecs.sseMany.encodePublication(publication("a", 9, "E2"))))).toMatch(
      /^id: E2:9,E1:5\ndata: /,
    );
    // The same shared bytes, framed for another stream with other channels.
    expect(text(other.frame(marked))).toMatch(/^id: E1:5\ndata: /);
    // Events without a position pass untouched; a mark for a channel not in the stream changes nothing.
    const keepalive = streamCodecs.sseMany.encodePush({ type: "ping", body: {} });
    expect(text(one.frame(keepalive))).toBe(":\n\n");
    expect(text(one.frame(streamCodecs.sseMany.encodePublication(publication("zzz", 1))))).toMatch(/^id: E2:9,E1:5\n/);
  });

  it("reads a cursor back into a resume position per channel, and refuses one for other channels", () => {
    expect(parseCursor("E2:9,E1:5", ["a", "b"], position)).toEqual(
      new Map([
        ["a", { epoch: "E2", offset: 9 }],
        ["b", { epoch: "E1", offset: 5 }],
      ]),
    );
    expect(parseCursor(",E1:5", ["a", "b"], position)).toEqual(new Map([["b", { epoch: "E1", offset: 5 }]]));
    expect(parseCursor("E1:5", ["a", "b"], position)).toBeUndefined();
    expect(parseCursor("E1:5,nope", ["a", "b"], position)).toBeUndefined();
  });
});
