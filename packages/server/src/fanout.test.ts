import { JsonCodec, ProtobufCodec } from "@hubcast/protocol";
import type { PushEncoder } from "./codec.js";
import { describe, expect, it } from "vitest";
import type { Subscriber } from "./fanout.js";
import { writeFanout } from "./fanout.js";
import type { Framer } from "./transport/transport.js";

/** A framer that counts its calls and tags its frames, so shared bytes can be told apart. */
class CountingFramer implements Framer {
  calls = 0;
  constructor(private readonly tag: string) {}
  frame(payload: Uint8Array): Buffer {
    this.calls += 1;
    return Buffer.concat([Buffer.from(`${this.tag}:`), payload]);
  }
}

let sinks = 0;

class Sink implements Subscriber {
  readonly id = `sink-${++sinks}`;
  readonly frames: Buffer[] = [];
  constructor(
    readonly codec: PushEncoder,
    readonly framer: Framer,
  ) {}
  writeFrame(frame: Buffer): void {
    this.frames.push(frame);
  }
  resubscribeRequired(): void {}
}

describe("writeFanout", () => {
  it("encodes once per codec and frames once per (codec, framer), whatever the mix of subscribers", () => {
    const json = new JsonCodec();
    const protobuf = new ProtobufCodec();
    const ws = new CountingFramer("ws");
    const sse = new CountingFramer("sse");
    const subscribers = [
      new Sink(json, ws),
      new Sink(json, sse),
      new Sink(protobuf, ws),
      new Sink(json, ws),
      new Sink(json, sse),
      new Sink(protobuf, ws),
    ];
    const encoded: PushEncoder[] = [];
    const counted: [number, number][] = [];
    writeFanout({
      subscribers,
      encode: (codec) => {
        encoded.push(codec);
        return new TextEncoder().encode(codec === json ? "json" : "pb");
      },
      sent: (recipients, bytes) => counted.push([recipients, bytes]),
    });

    expect(encoded).toEqual([json, protobuf]);
    expect(ws.calls).toBe(2); // json and protobuf
    expect(sse.calls).toBe(1);
    // Subscribers alike get the very same buffer.
    const [a, b, c, d, e, f] = subscribers.map((s) => s.frames[0]);
    expect(a).toBe(d);
    expect(b).toBe(e);
    expect(c).toBe(f);
    expect([a, b, c].map(String)).toEqual(["ws:json", "sse:json", "ws:pb"]);
    expect(counted).toEqual([[6, subscribers.reduce((n, s) => n + (s.frames[0]?.length ?? 0), 0)]]);
  });

  it("skips the one subscriber it is told to (a Pusher sender), and counts only those written to", () => {
    const json = new JsonCodec();
    const ws = new CountingFramer("ws");
    const subscribers = [new Sink(json, ws), new Sink(json, ws), new Sink(json, ws)];
    const counted: number[] = [];
    const skipped = subscribers[1]?.id;
    writeFanout({
      subscribers,
      encode: () => new TextEncoder().encode("x"),
      sent: (recipients) => counted.push(recipients),
      except: skipped,
    });
    expect(subscribers.map((s) => s.frames.length)).toEqual([1, 0, 1]);
    expect(counted).toEqual([2]);
  });
});
