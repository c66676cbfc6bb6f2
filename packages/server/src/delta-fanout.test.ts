import { JsonCodec, ProtobufCodec } from "@hubcast/protocol";
import type { Codec, PublicationPush, RawPublication, StreamPosition } from "@hubcast/protocol";
import { applyDelta } from "fossil-delta";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MemoryBroker } from "./broker/memory.js";
import type { Subscriber } from "./fanout.js";
import { MemoryStreams } from "./history/memory-streams.js";
import { Hub } from "./hub.js";
import { websocketFramer } from "./transport/frame.js";

const POLICY = { size: 100, ttlMs: 60_000, metaTtlMs: 600_000 };
const utf8 = new TextEncoder();
const text = new TextDecoder();

/** A codec that counts its publication encodings: each version of a publication must be encoded once. */
class Counted {
  readonly binary: boolean;
  encoded = 0;
  constructor(private readonly codec: Codec) {
    this.binary = codec.binary;
  }
  encodePush: Codec["encodePush"] = (push) => this.codec.encodePush(push);
  encodePublication: Codec["encodePublication"] = (pub) => {
    this.encoded += 1;
    return this.codec.encodePublication(pub);
  };
  decode(frame: Buffer): PublicationPush {
    const payload = frame.subarray(frame[1] === 126 ? 4 : 2);
    const decoded = this.codec.decodeServerFrame(this.binary ? payload : text.decode(payload));
    if (decoded.kind !== "push" || decoded.push.type !== "publication") throw new Error("not a publication");
    return decoded.push.body;
  }
}

/** A subscriber that applies deltas as the SDK does, and keeps every frame it was written. */
class Receiver implements Subscriber {
  readonly id = Math.random().toString(36);
  readonly framer = websocketFramer;
  readonly frames: Buffer[] = [];
  readonly kinds: ("full" | "delta")[] = [];
  readonly data: unknown[] = [];
  private base: Uint8Array | undefined;
  constructor(readonly codec: Counted) {}
  writeFrame(frame: Buffer): void {
    this.frames.push(frame);
    const push = this.codec.decode(frame);
    const raw = typeof push.rawData === "string" ? utf8.encode(push.rawData) : (push.rawData as Uint8Array);
    this.base = push.delta === true ? applyDelta(this.base as Uint8Array, raw) : raw;
    this.kinds.push(push.delta === true ? "delta" : "full");
    this.data.push(JSON.parse(text.decode(this.base)));
  }
  resubscribeRequired(): void {
    throw new Error("unexpected resubscribe");
  }
}

/** A ~1 KB document whose `n`th version changes one field. */
const doc = (n: number): Uint8Array =>
  utf8.encode(
    JSON.stringify({ version: n, items: Array.from({ length: 40 }, (_, i) => ({ id: i, name: `item-${i}` })) }),
  );

function setup(): {
  hub: Hub;
  publish: (data: Uint8Array, deliver?: boolean) => RawPublication;
  top: () => StreamPosition;
} {
  const streams = new MemoryStreams();
  const history = {
    policyFor: () => POLICY,
    read: (channel: string, since: StreamPosition) =>
      Promise.resolve(streams.read(channel, { since, limit: POLICY.size }, POLICY)),
  };
  const hub = new Hub(new MemoryBroker(streams), history, { logger: pino({ level: "silent" }) });
  const publish = (data: Uint8Array, deliver = true): RawPublication => {
    const { offset, epoch } = streams.append({ channel: "c", data }, POLICY);
    const pub = { channel: "c", data, offset, epoch };
    if (deliver) hub.deliverPublication(pub);
    return pub;
  };
  return { hub, publish, top: () => streams.read("c", { limit: 0 }, POLICY).position };
}

async function subscribe(hub: Hub, top: StreamPosition, codec: Counted, delta: boolean): Promise<Receiver> {
  const sub = new Receiver(codec);
  await hub.addPending("c", sub, { delta });
  hub.promote("c", sub, top);
  return sub;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("Hub: delta fan-out", () => {
  it("sends the first publication in full, then deltas, each version encoded once per codec", async () => {
    const { hub, publish, top } = setup();
    const json = new Counted(new JsonCodec());
    const pb = new Counted(new ProtobufCodec());
    const [a, b] = [await subscribe(hub, top(), json, true), await subscribe(hub, top(), json, true)];
    const [c, d] = [await subscribe(hub, top(), pb, true), await subscribe(hub, top(), json, false)];
    for (let n = 1; n <= 4; n++) publish(doc(n));
    const expected = [1, 2, 3, 4].map((n) => JSON.parse(text.decode(doc(n))) as unknown);
    for (const sub of [a, b, c, d]) expect(sub.data).toEqual(expected);
    for (const sub of [a, b, c]) expect(sub.kinds).toEqual(["full", "delta", "delta", "delta"]);
    expect(d.kinds).toEqual(["full", "full", "full", "full"]);
    // At most one full and one delta per publication per codec, shared by reference; a version
    // nobody of a codec needs is not made (Protobuf's only subscriber takes deltas after the first).
    expect(json.encoded).toBe(4 + 3);
    expect(pb.encoded).toBe(1 + 3);
    expect(a.frames[3]).toBe(b.frames[3]);
    expect((a.frames[3] as Buffer).length * 5).toBeLessThan((d.frames[3] as Buffer).length);
  });

  it("sends a latecomer its first publication in full while the others get the delta", async () => {
    const { hub, publish, top } = setup();
    const json = new Counted(new JsonCodec());
    const early = await subscribe(hub, top(), json, true);
    publish(doc(1));
    publish(doc(2));
    const late = await subscribe(hub, top(), json, true);
    publish(doc(3));
    publish(doc(4));
    expect(early.kinds).toEqual(["full", "delta", "delta", "delta"]);
    expect(late.kinds).toEqual(["full", "delta"]);
    expect(late.data).toEqual([3, 4].map((n) => JSON.parse(text.decode(doc(n))) as unknown));
  });

  it("restarts with a full publication for everyone after a gap is repaired from history", async () => {
    const { hub, publish, top } = setup();
    const json = new Counted(new JsonCodec());
    const sub = await subscribe(hub, top(), json, true);
    publish(doc(1));
    publish(doc(2));
    publish(doc(3), false); // lost between nodes
    publish(doc(4)); // shows the gap: 3 and 4 come from history, in full
    await flush();
    publish(doc(5));
    publish(doc(6));
    expect(sub.kinds).toEqual(["full", "delta", "full", "full", "full", "delta"]);
    expect(sub.data).toEqual([1, 2, 3, 4, 5, 6].map((n) => JSON.parse(text.decode(doc(n))) as unknown));
  });

  it("sends in full when the delta would not be smaller", async () => {
    const { hub, publish, top } = setup();
    const json = new Counted(new JsonCodec());
    const sub = await subscribe(hub, top(), json, true);
    publish(utf8.encode('"a"'));
    publish(utf8.encode('"b"'));
    publish(utf8.encode(JSON.stringify("x".repeat(200))));
    publish(utf8.encode(JSON.stringify(`${"x".repeat(200)}y`)));
    expect(sub.kinds).toEqual(["full", "full", "full", "delta"]);
  });
});
