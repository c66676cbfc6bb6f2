import { JsonCodec } from "@hubcast/protocol";
import type { RawPublication, StreamPosition } from "@hubcast/protocol";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryBroker } from "./broker/memory.js";
import { CATCH_UP_WAIT_MS } from "./channel-entry.js";
import type { Subscriber } from "./fanout.js";
import { MemoryStreams } from "./history/memory-streams.js";
import { Hub } from "./hub.js";
import { websocketFramer } from "./transport/frame.js";

const POLICY = { size: 100, ttlMs: 60_000, metaTtlMs: 600_000 };
const codec = new JsonCodec();

/** A subscriber that decodes what it is sent, as a client would. */
class Recorder implements Subscriber {
  readonly id = Math.random().toString(36);
  readonly codec = codec;
  readonly framer = websocketFramer;
  readonly offsets: number[] = [];
  resubscribes = 0;
  constructor(private readonly hub: Hub) {}
  writeFrame(frame: Buffer): void {
    const payload = frame.subarray(frame[1] === 126 ? 4 : 2);
    const decoded = codec.decodeServerFrame(payload);
    if (decoded.kind === "push" && decoded.push.type === "publication")
      this.offsets.push(decoded.push.body.offset ?? -1);
  }
  resubscribeRequired(channel: string): void {
    this.resubscribes += 1;
    this.hub.remove(channel, this);
  }
}

/** A hub over real memory streams; `store` appends to history without delivering (a lost message). */
function setup(): {
  hub: Hub;
  streams: MemoryStreams;
  store: (n: number) => RawPublication[];
  top: () => StreamPosition;
} {
  const streams = new MemoryStreams();
  const history = {
    policyFor: () => POLICY,
    read: (channel: string, since: StreamPosition) =>
      Promise.resolve(streams.read(channel, { since, limit: POLICY.size }, POLICY)),
  };
  const hub = new Hub(new MemoryBroker(streams), history, { logger: pino({ level: "silent" }) });
  const store = (n: number): RawPublication[] =>
    Array.from({ length: n }, () => {
      const position = streams.append({ channel: "c", data: new TextEncoder().encode("1") }, POLICY);
      return { channel: "c", data: new TextEncoder().encode("1"), offset: position.offset, epoch: position.epoch };
    });
  const top = (): StreamPosition => streams.read("c", { limit: 0 }, POLICY).position;
  return { hub, streams, store, top };
}

/** Subscribes a recorder the way a session does: pending, history read, promote after the reply. */
async function subscribe(hub: Hub, top: StreamPosition): Promise<Recorder> {
  const sub = new Recorder(hub);
  await hub.addPending("c", sub);
  hub.promote("c", sub, top);
  return sub;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.useRealTimers();
});

describe("Hub repairs channels from history", () => {
  it("fills a gap in offsets from history, in order, exactly once", async () => {
    const { hub, store, top } = setup();
    const sub = await subscribe(hub, top());
    const [p1, p2] = store(2);
    hub.deliverPublication(p1 as RawPublication);
    hub.deliverPublication(p2 as RawPublication);
    const lost = store(3); // 3, 4, 5 never reach the hub...
    const [p6] = store(1);
    hub.deliverPublication(p6 as RawPublication); // ...until 6 shows the gap
    await flush();
    hub.deliverPublication(lost[1] as RawPublication); // a late duplicate is dropped
    const [p7] = store(1);
    hub.deliverPublication(p7 as RawPublication);
    expect(sub.offsets).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("holds a subscriber whose history read ran ahead of delivery until delivery catches up", async () => {
    const { hub, store, top } = setup();
    const early = await subscribe(hub, top());
    const pubs = store(3); // stored, not yet delivered: a new subscriber's read sees them
    const late = await subscribe(hub, top());
    for (const pub of pubs) hub.deliverPublication(pub);
    const [p4] = store(1);
    hub.deliverPublication(p4 as RawPublication);
    expect(early.offsets).toEqual([1, 2, 3, 4]);
    expect(late.offsets).toEqual([4]); // 1..3 came in its history read
  });

  it("re-reads history if delivery never catches up with a subscriber's read", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout"] });
    const { hub, store, top } = setup();
    const early = await subscribe(hub, top());
    store(2); // lost in the broker
    const late = await subscribe(hub, top());
    vi.advanceTimersByTime(CATCH_UP_WAIT_MS);
    await flush();
    const [p3] = store(1);
    hub.deliverPublication(p3 as RawPublication);
    expect(early.offsets).toEqual([1, 2, 3]);
    expect(late.offsets).toEqual([3]);
  });

  it("re-reads every channel after a broker reconnect", async () => {
    const { hub, store, top } = setup();
    const sub = await subscribe(hub, top());
    store(2); // published while this node's subscription was down
    hub.resyncAll();
    await flush();
    expect(sub.offsets).toEqual([1, 2]);
  });

  it("asks subscribers to resubscribe when history cannot cover a gap", async () => {
    const { hub, store, top } = setup();
    const sub = await subscribe(hub, top());
    store(POLICY.size + 5); // more than history keeps: the oldest missing ones are gone
    const [last] = store(1);
    hub.deliverPublication(last as RawPublication);
    await flush();
    expect(sub.resubscribes).toBe(1);
    expect(sub.offsets).toEqual([]);
    expect(hub.subscriptionCount).toBe(0);
  });

  it("asks subscribers to resubscribe when history restarts with a new epoch", async () => {
    const { hub, streams, store, top } = setup();
    const sub = await subscribe(hub, top());
    const [p1] = store(1);
    hub.deliverPublication(p1 as RawPublication);
    streams.remove("c"); // the store was flushed
    const [fresh] = store(1);
    hub.deliverPublication(fresh as RawPublication);
    expect(sub.offsets).toEqual([1]);
    expect(sub.resubscribes).toBe(1);
  });
});

describe("Hub publication rates", () => {
  it("counts publications per channel and node-wide, and smooths each channel's rate", async () => {
    const { hub, store, top } = setup();
    await subscribe(hub, top());
    expect([...hub.channelSummaries()]).toEqual([{ name: "c", subscribers: 1, publicationsPerSecond: 0 }]);
    for (const pub of store(10)) hub.deliverPublication(pub);
    hub.deliverPublication({ channel: "nobody-here", data: new Uint8Array() });
    expect(hub.publicationsReceived).toBe(10);
    hub.sampleRates(1_000);
    const first = [...hub.channelSummaries()][0]?.publicationsPerSecond ?? 0;
    expect(first).toBeGreaterThan(1); // 10/s folded in with a 5 s time constant: about 1.8
    expect(first).toBeLessThan(10);
    for (let i = 0; i < 30; i++) {
      for (const pub of store(10)) hub.deliverPublication(pub);
      hub.sampleRates(1_000);
    }
    expect([...hub.channelSummaries()][0]?.publicationsPerSecond).toBeCloseTo(10, 0);
    for (let i = 0; i < 30; i++) hub.sampleRates(1_000);
    expect([...hub.channelSummaries()][0]?.publicationsPerSecond).toBeLessThan(0.1);
  });
});
