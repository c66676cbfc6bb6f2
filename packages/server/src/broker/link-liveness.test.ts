import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LinkPinger, resolveLiveness } from "./link-liveness.js";
/** A link whose PINGs are answered (or not) when the test says so. */
class FakeLink {
  readonly pending: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  sendCommand(): Promise<unknown> {
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }
}

function newPinger(isSilence?: (err: unknown) => boolean) {
  const silent: FakeLink[] = [];
  const answered: FakeLink[] = [];
  const pinger = new LinkPinger<FakeLink>({
    timeoutMs: 2_000,
    what: "test PING",
    handlers: { onSilent: (link) => silent.push(link), onAnswer: (link) => answered.push(link) },
    ...(isSilence === undefined ? {} : { isSilence }),
  });
  return { pinger, silent, answered };
}

describe("LinkPinger", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("reports a link whose PING stays unanswered past the timeout, once", async () => {
    const { pinger, silent } = newPinger();
    const link = new FakeLink();
    pinger.ping(link, () => link.sendCommand());
    await vi.advanceTimersByTimeAsync(1_999);
    expect(silent).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(silent).toEqual([link]);
  });

  it("keeps one PING in flight per link, and counts an error reply as an answer", async () => {
    const { pinger, silent, answered } = newPinger();
    const link = new FakeLink();
    const other = new FakeLink();
    pinger.ping(link, () => link.sendCommand());
    pinger.ping(link, () => link.sendCommand());
    pinger.ping(other, () => other.sendCommand());
    expect(link.pending).toHaveLength(1);
    expect(other.pending).toHaveLength(1);
    link.pending[0]?.reject(new Error("ERR something"));
    other.pending[0]?.resolve("PONG");
    await vi.advanceTimersByTimeAsync(5_000);
    expect(silent).toEqual([]);
    expect(answered).toEqual([other]); // the error reply is not silence, nor proof of life
    pinger.ping(link, () => link.sendCommand()); // the answered PING no longer blocks the next
    expect(link.pending).toHaveLength(2);
  });

  it("treats the rejections isSilence names as silence", async () => {
    const { pinger, silent } = newPinger((err) => err instanceof Error && err.message === "command timeout");
    const link = new FakeLink();
    pinger.ping(link, () => link.sendCommand());
    link.pending[0]?.reject(new Error("command timeout"));
    await vi.advanceTimersByTimeAsync(0);
    expect(silent).toEqual([link]);
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
