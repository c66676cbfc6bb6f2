import { describe, expect, it } from "vitest";
import { encodePayload } from "../payload.js";
import { Incoming, incomingFrame } from "./adapter.js";
import type { ProtocolAdapter } from "./adapter.js";
import { CONNECT_ID, socketIoAdapter } from "./socketio.js";

const parser =
  (adapter: ProtocolAdapter) =>
  (frame: string): { kind: number; out: ReturnType<typeof incomingFrame> } => {
    const out = incomingFrame();
    return { kind: adapter.parse(Buffer.from(frame), out), out };
  };

// Frames captured from Socket.IO 4.8.4 (bench/peers/socketio-server.mjs) over
// /socket.io/?EIO=4&transport=websocket, in the order they arrived.
const CAPTURED = {
  open: '0{"sid":"zSpTQh0tkOLVH9W_AAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}',
  connected: '40{"sid":"N7oD6fW8uLaFkes0AAAA"}',
  subscribed: "432[]",
  refused: '433[{"error":"subscribe needs a channel name"}]',
  publication: '42["publication","bench:fanout-0","0|1|1767225600123456|xxxxxxxxxxxxxxxxxxxxxxxxxxxx"]',
} as const;

describe("socketio adapter (Engine.IO v4 framing)", () => {
  const parse = parser(socketIoAdapter);

  it("reads the captured handshake, acks and refusals", () => {
    expect(parse(CAPTURED.open).kind).toBe(Incoming.other);
    expect(parse(CAPTURED.connected)).toMatchObject({ kind: Incoming.reply, out: { id: CONNECT_ID } });
    expect(parse(CAPTURED.subscribed)).toMatchObject({ kind: Incoming.reply, out: { id: 2 } });
    expect(parse("43117[]")).toMatchObject({ kind: Incoming.reply, out: { id: 117 } });
    expect(parse(CAPTURED.refused)).toMatchObject({
      kind: Incoming.error,
      out: { id: 3, message: "subscribe needs a channel name" },
    });
    expect(parse('44{"message":"Not authorized"}')).toMatchObject({
      kind: Incoming.error,
      out: { id: CONNECT_ID, message: "Not authorized" },
    });
  });

  it("reads a captured publication's fields, and any size of payload", () => {
    expect(parse(CAPTURED.publication)).toMatchObject({
      kind: Incoming.publication,
      out: { lane: 0, seq: 1, sentAtUs: 1_767_225_600_123_456 },
    });
    const data = encodePayload(7, 123_456, 1_700_000_000_000_001, 1000);
    expect(parse(`42["publication","bench:fanout-0",${data}]`)).toMatchObject({
      kind: Incoming.publication,
      out: { lane: 7, seq: 123_456, sentAtUs: 1_700_000_000_000_001 },
    });
    expect(parse('42["publication","bench:probe","probe"]').kind).toBe(Incoming.other);
    expect(parse('42["other","bench:fanout-0","1|2|3|x"]').kind).toBe(Incoming.other);
  });

  it("answers Engine.IO pings and reports closes", () => {
    expect(parse("2")).toMatchObject({ kind: Incoming.ping, out: { answer: "3" } });
    expect(parse("1").kind).toBe(Incoming.disconnect);
    expect(parse("41").kind).toBe(Incoming.disconnect);
    expect(parse("6").kind).toBe(Incoming.other);
  });

  it("builds the packets the peer server reads", () => {
    expect(socketIoAdapter.connect(1)).toBe("40");
    expect(socketIoAdapter.subscribe("bench:a", 2)).toBe('422["subscribe","bench:a"]');
    const publish = socketIoAdapter.publish("bench:a", '"1|1|1|x"', 14);
    expect(publish.slice(0, 4)).toBe("4214");
    expect(JSON.parse(publish.slice(4))).toEqual(["publish", "bench:a", "1|1|1|x"]);
  });
});
