import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LinkPinger, resolveLiveness } from "./link-liveness.js";
import type { PingableLink } from "./link-liveness.js";

/** A link whose PINGs are answered (or not) when the test says so. */
class FakeLink implements PingableLink {
  readonly pending: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  sendCommand(): Promise<unknown> {
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }
}

describe("LinkPinger", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("reports a link whose PING stays unanswered past the timeout, once", async () => {
    const silent: FakeLink[] = [];
    const pinger = new LinkPinger<FakeLink>(2_000, (link) => silent.push(link));
    const link = new FakeLink();
    pinger.ping(link);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(silent).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(silent).toEqual([link]);
  });

  it("keeps one PING in flight per link, and counts an error reply as an answer", async () => {
    const silent: FakeLink[] = [];
    const pinger = new LinkPinger<FakeLink>(2_000, (link) => silent.push(link));
    const link = new FakeLink();
    const other = new FakeLink();
    pinger.ping(link);
    pinger.ping(link);
    pinger.ping(other);
    expect(link.pending).toHaveLength(1);
    expect(other.pending).toHaveLength(1);
    link.pending[0]?.reject(new Error("ERR something"));
    other.pending[0]?.resolve("PONG");
    await vi.advanceTimersByTimeAsync(5_000);
    expect(silent).toEqual([]);
    pinger.ping(link); // the answered PING no longer blocks the next
    expect(link.pending).toHaveLength(2);
  });
});

describe("resolveLiveness", () => {
  it("applies the defaults and keeps explicit values", () => {
    expect(resolveLiveness()).toEqual({ pingIntervalMs: 1_000, pongTimeoutMs: 2_000 });
    expect(resolveLiveness({ pingIntervalMs: 250, pongTimeoutMs: 500 })).toEqual({
      pingIntervalMs: 250,
      pongTimeoutMs: 500,
    });
  });

  it("names the option that is not a positive integer", () => {
    expect(() => resolveLiveness({ pongTimeoutMs: 0 })).toThrow(/pongTimeoutMs/);
    expect(() => resolveLiveness({ pingIntervalMs: 1.5 })).toThrow(/pingIntervalMs/);
  });
});
