import { describe, expect, it } from "vitest";
import { decodePayload, encodePayload } from "../payload.js";
import { hubcastAdapter } from "./hubcast.js";
import { Incoming, incomingFrame } from "./adapter.js";

const parse = (frame: string): { kind: number; out: ReturnType<typeof incomingFrame> } => {
  const out = incomingFrame();
  return { kind: hubcastAdapter.parse(Buffer.from(frame), out), out };
};

describe("bench payload", () => {
  it("is exactly the requested size and reads back", () => {
    for (const bytes of [48, 64, 1000, 70_000]) {
      const data = encodePayload(12, 345678, 1_767_225_600_123_456, bytes);
      expect(Buffer.byteLength(data)).toBe(bytes);
      expect(JSON.parse(data)).toMatch(/^12\|345678\|1767225600123456\|x*$/);
      const out = { lane: 0, seq: 0, sentAtUs: 0 };
      expect(decodePayload(Buffer.from(data), 0, out)).toBe(true);
      expect(out).toEqual({ lane: 12, seq: 345678, sentAtUs: 1_767_225_600_123_456 });
    }
  });

  it("refuses bytes that are not a payload", () => {
    const out = { lane: 0, seq: 0, sentAtUs: 0 };
    for (const s of ['"probe"', '{"a":1}', '"1|2"', '"1||3|x"'])
      expect(decodePayload(Buffer.from(s), 0, out), s).toBe(false);
  });
});

describe("hubcast adapter", () => {
  it("reads a publication's fields where the server puts data: last", () => {
    const data = encodePayload(3, 42, 1_700_000_000_000_001, 64);
    const { kind, out } = parse(
      `{"publication":{"channel":"bench:fanout-0","offset":9,"info":{"client":"c","user":"","info":{"data":"1|1|1|"}},"data":${data}}}`,
    );
    expect(kind).toBe(Incoming.publication);
    expect([out.lane, out.seq, out.sentAtUs]).toEqual([3, 42, 1_700_000_000_000_001]);
    expect(parse('{"publication":{"channel":"x","data":{"text":"hi"}}}').kind).toBe(Incoming.other);
  });

  it("tells replies, errors, pings and disconnects apart", () => {
    expect(parse('{"id":17,"publish":{}}')).toMatchObject({ kind: Incoming.reply, out: { id: 17 } });
    expect(
      parse('{"id":2,"connect":{"client":"x","version":1,"pingIntervalMs":25000,"maxMessageBytes":65536}}'),
    ).toMatchObject({ kind: Incoming.reply, out: { id: 2 } });
    expect(parse('{"id":5,"error":{"code":103,"message":"no","temporary":false}}')).toMatchObject({
      kind: Incoming.error,
      out: { id: 5, errorCode: 103, message: "no" },
    });
    expect(parse('{"ping":{}}')).toMatchObject({ kind: Incoming.ping, out: { answer: '{"pong":{}}' } });
    expect(
      parse('{"disconnect":{"code":3008,"reason":"try_later","reconnect":true,"retryAfterMs":1500}}'),
    ).toMatchObject({
      kind: Incoming.disconnect,
      out: { closeCode: 3008, retryAfterMs: 1500, message: "try_later" },
    });
    expect(parse('{"join":{"channel":"c","info":{"client":"x","user":""}}}').kind).toBe(Incoming.other);
  });

  it("builds frames the server accepts, and explains refusals", () => {
    expect(JSON.parse(hubcastAdapter.publish("bench:a", '"1|1|1|x"', 4))).toEqual({
      id: 4,
      publish: { channel: "bench:a", data: "1|1|1|x" },
    });
    expect(JSON.parse(hubcastAdapter.subscribe("bench:a", 2) ?? "")).toEqual({
      id: 2,
      subscribe: { channel: "bench:a" },
    });
    expect(
      hubcastAdapter.explainError?.({ operation: "publish", code: 103, message: "", channel: "bench:a" }),
    ).toContain('"namespaces":{"bench":{"allowPublish":true}}');
    expect(
      hubcastAdapter.explainError?.({ operation: "publish", code: 112, message: "", channel: "bench:a" }),
    ).toContain("--command-rate-per-second 0");
  });
});
