import { describe, expect, it } from "vitest";
import { encodePayload } from "../payload.js";
import { Incoming, incomingFrame } from "./adapter.js";
import type { ProtocolAdapter } from "./adapter.js";
import { wsPlainAdapter } from "./ws-plain.js";

const parser =
  (adapter: ProtocolAdapter) =>
  (frame: string): { kind: number; out: ReturnType<typeof incomingFrame> } => {
    const out = incomingFrame();
    return { kind: adapter.parse(Buffer.from(frame), out), out };
  };

describe("ws-plain adapter", () => {
  const parse = parser(wsPlainAdapter);

  it("reads publications, replies and errors", () => {
    const data = encodePayload(2, 9, 1_700_000_000_000_002, 64);
    expect(parse(`{"channel":"bench:fanout-0","data":${data}}`)).toMatchObject({
      kind: Incoming.publication,
      out: { lane: 2, seq: 9, sentAtUs: 1_700_000_000_000_002 },
    });
    expect(parse('{"channel":"bench:probe","data":"probe"}').kind).toBe(Incoming.other);
    expect(parse('{"id":42}')).toMatchObject({ kind: Incoming.reply, out: { id: 42 } });
    expect(parse('{"id":3,"error":"publish failed: closed"}')).toMatchObject({
      kind: Incoming.error,
      out: { id: 3, message: "publish failed: closed" },
    });
  });

  it("builds commands as JSON with ids, and needs no connect step", () => {
    expect(wsPlainAdapter.connect(1)).toBeUndefined();
    expect(JSON.parse(wsPlainAdapter.subscribe("bench:a", 1) ?? "")).toEqual({ id: 1, subscribe: "bench:a" });
    expect(JSON.parse(wsPlainAdapter.publish("bench:a", '"1|1|1|x"', 5))).toEqual({
      id: 5,
      publish: "bench:a",
      data: "1|1|1|x",
    });
  });
});
