import { createServer } from "node:http";
import type { AddressInfo, Server } from "node:net";
import { CloseCode } from "@hubcast/protocol";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SelfDrain, UNREADY_REASON, anyPeerReady, selfDrainWindowMs } from "./self-drain.js";
import type { Session } from "./session.js";

/** A stand-in for a session: drainSessions only calls close(). */
function fakeSessions(count: number): { sessions: Set<Session>; closes: unknown[][] } {
  const closes: unknown[][] = [];
  const sessions = new Set<Session>();
  for (let i = 0; i < count; i++)
    sessions.add({ close: (...args: unknown[]) => closes.push(args) } as unknown as Session);
  return { sessions, closes };
}

describe("SelfDrain", () => {
  let ready: boolean;
  let peerReady: boolean | undefined;
  const drains: SelfDrain[] = [];
  const make = (graceMs: number, count = 4) => {
    const { sessions, closes } = fakeSessions(count);
    const metrics = { selfDrained: vi.fn() };
    const drain = new SelfDrain({
      graceMs,
      isReady: () => ready,
      sessions,
      windowMs: () => 1_000,
      peerReady: () => Promise.resolve(peerReady),
      logger: pino({ level: "silent" }),
      metrics,
    });
    drains.push(drain);
    return { drain, closes, metrics };
  };
  beforeEach(() => {
    vi.useFakeTimers();
    ready = true;
    peerReady = true;
  });
  afterEach(() => {
    for (const drain of drains.splice(0)) drain.stop();
    vi.useRealTimers();
  });

  it("drains once the node has been unready past the grace, with the reconnect hint, and refuses until ready again", async () => {
    const { drain, closes, metrics } = make(2_000);
    ready = false;
    await vi.advanceTimersByTimeAsync(1_900);
    expect(drain.refusing).toBe(false);
    expect(closes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(drain.refusing).toBe(true);
    expect(metrics.selfDrained).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1_000); // the spread window
    expect(closes).toEqual(Array.from({ length: 4 }, () => [CloseCode.shutdown, UNREADY_REASON]));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(metrics.selfDrained).toHaveBeenCalledTimes(1); // once per unready episode
    ready = true;
    await vi.advanceTimersByTimeAsync(600);
    expect(drain.refusing).toBe(false);
  });

  it("keeps its clients while no peer is ready (a cluster-wide outage), and drains once one has been ready for the grace", async () => {
    const { drain, closes } = make(1_000);
    ready = false;
    peerReady = false;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(drain.refusing).toBe(false);
    expect(closes).toHaveLength(0);
    peerReady = true;
    await vi.advanceTimersByTimeAsync(800); // the peer recovered first: this node gets the grace to follow
    expect(drain.refusing).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(drain.refusing).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(closes).toHaveLength(4);
  });

  it("keeps its clients when it recovers within the grace after a peer did", async () => {
    const { drain, closes, metrics } = make(1_000);
    ready = false;
    peerReady = false;
    await vi.advanceTimersByTimeAsync(3_000);
    peerReady = true;
    await vi.advanceTimersByTimeAsync(700);
    ready = true;
    await vi.advanceTimersByTimeAsync(3_000);
    expect(drain.refusing).toBe(false);
    expect(closes).toHaveLength(0);
    expect(metrics.selfDrained).not.toHaveBeenCalled();
    // A new episode whose peers were ready all along drains after the grace alone.
    ready = false;
    await vi.advanceTimersByTimeAsync(1_600);
    expect(drain.refusing).toBe(true);
  });

  it("stops a drain in progress when the node turns ready, and never drains with a grace of 0", async () => {
    const { closes } = make(1_000, 1_000);
    ready = false;
    await vi.advanceTimersByTimeAsync(1_300);
    ready = true;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(closes.length).toBeGreaterThan(0);
    expect(closes.length).toBeLessThan(1_000);

    const off = make(0);
    ready = false;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(off.closes).toHaveLength(0);
  });
});

describe("selfDrainWindowMs", () => {
  it("spreads at one peer's admission rate, at least 500 ms, at most drainWindowMs", () => {
    expect(selfDrainWindowMs(10, 500, 10_000)).toBe(500);
    expect(selfDrainWindowMs(2_000, 500, 10_000)).toBe(4_000);
    expect(selfDrainWindowMs(100_000, 500, 10_000)).toBe(10_000);
    expect(selfDrainWindowMs(100_000, 0, 10_000)).toBe(500); // no admission limit: only the floor
  });
});

describe("anyPeerReady", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });
  const peer = async (status: number): Promise<string> => {
    const server = createServer((_, res) => res.writeHead(status).end());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  it("is true when one peer answers 200, false when none is known or all answer otherwise, undefined when one cannot be asked", async () => {
    const [up, down] = [await peer(200), await peer(503)];
    expect(await anyPeerReady([down, up])).toBe(true);
    expect(await anyPeerReady([down])).toBe(false);
    expect(await anyPeerReady([])).toBe(false);
    expect(await anyPeerReady([down, "http://127.0.0.1:1"])).toBeUndefined();
  });
});
