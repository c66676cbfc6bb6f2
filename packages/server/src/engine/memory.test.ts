import type { StreamPosition } from "@hubcast/protocol";
import { describe, expect, it } from "vitest";
import { brokerContract } from "../broker/broker.contract.js";
import { presenceContract } from "../presence/presence.contract.js";
import { MemoryRegistry } from "../registry/memory.js";
import { registryContract } from "../registry/registry.contract.js";
import { itemBytes } from "../history/memory-streams.js";
import { MemoryEngine } from "./memory.js";

brokerContract("memory", (_prefix, options) => {
  const engine = new MemoryEngine(options);
  return Promise.resolve({ broker: engine.broker, history: engine.history, close: () => engine.close() });
});
presenceContract("memory", () => {
  const engine = new MemoryEngine();
  return Promise.resolve({ store: engine.presence, close: () => engine.close() });
});
registryContract("memory", () => {
  const engine = new MemoryEngine();
  return Promise.resolve({ store: engine.registry, close: () => engine.close() });
});

describe("memory engine expiry", () => {
  it("drops a registry entry not announced within its TTL", async () => {
    let now = 0;
    const registry = new MemoryRegistry(1_000, () => now);
    await registry.announce({
      id: "n",
      address: "",
      version: "",
      startedAt: 0,
      connections: 0,
      subscriptions: 0,
      channels: 0,
    });
    now = 999;
    expect(await registry.list()).toHaveLength(1);
    now = 1_000;
    expect(await registry.list()).toHaveLength(0);
  });

  it("drops publications after ttlMs and whole streams (positions) after metaTtlMs", async () => {
    let now = 0;
    const engine = new MemoryEngine({ now: () => now });
    const policy = { size: 10, ttlMs: 500, metaTtlMs: 1_000 };
    const a = await engine.broker.publish({ channel: "a", data: new Uint8Array([49]) }, policy);
    now = 400;
    await engine.broker.publish({ channel: "b", data: new Uint8Array([49]) }, policy);
    now = 600;
    expect(engine.streams.sweep()).toBe(0);
    const quiet = await engine.history.read("a", { limit: 10 }, policy);
    expect(quiet).toEqual({ publications: [], position: a }); // publications gone, position kept
    now = 1_000;
    expect(engine.streams.sweep()).toBe(1);
    expect(engine.streams.size).toBe(1);
    await engine.close();
  });
});

describe("memory engine node-wide history bounds", () => {
  const policy = { size: 100, ttlMs: 60_000, metaTtlMs: 120_000 };
  const kib = (fill: number): Uint8Array => new Uint8Array(1024).fill(fill);
  /** What one 1 KiB publication to a two-character channel costs the bound. */
  const cost = itemBytes({ channel: "c0", data: kib(0) });

  it("drops the oldest publications of the least recently published channels past maxBytes, keeping positions", async () => {
    const evicted: string[] = [];
    const engine = new MemoryEngine({ historyMaxBytes: 5 * cost });
    engine.observe({ reconnected() {}, error() {}, historyEvicted: (reason) => evicted.push(reason) });
    const first = (await engine.broker.publish({ channel: "c0", data: kib(1) }, policy)) as StreamPosition;
    await engine.broker.publish({ channel: "c0", data: kib(2) }, policy);
    for (let i = 1; i <= 3; i += 1) await engine.broker.publish({ channel: `c${i}`, data: kib(i) }, policy);
    expect(engine.streams.bytes).toBe(5 * cost);
    expect(evicted).toEqual([]);
    await engine.broker.publish({ channel: "c4", data: kib(4) }, policy); // one over: c0's oldest goes
    expect(evicted).toEqual(["bytes"]);
    expect(engine.streams.bytes).toBe(5 * cost);
    const c0 = await engine.history.read("c0", { limit: 10, since: first }, policy);
    expect(c0.publications.map((p) => p.offset)).toEqual([2]);
    expect(c0.position).toEqual({ offset: 2, epoch: first.epoch }); // the position stays: recovery says recovered: false
    await engine.broker.publish({ channel: "c0", data: kib(5) }, policy); // c0 is now the most recent: c1 goes
    expect((await engine.history.read("c1", { limit: 10 }, policy)).publications).toEqual([]);
    expect((await engine.history.read("c0", { limit: 10 }, policy)).publications.map((p) => p.offset)).toEqual([2, 3]);
    await engine.close();
  });

  it("drops the least recently published stream whole past maxChannels, so it starts a new epoch", async () => {
    const evicted: string[] = [];
    const engine = new MemoryEngine({ historyMaxChannels: 3 });
    engine.observe({ reconnected() {}, error() {}, historyEvicted: (reason) => evicted.push(reason) });
    const a = (await engine.broker.publish({ channel: "aa", data: kib(1) }, policy)) as StreamPosition;
    for (const channel of ["bb", "cc"]) await engine.broker.publish({ channel, data: kib(1) }, policy);
    await engine.broker.publish({ channel: "aa", data: kib(2) }, policy); // aa is the most recent now
    await engine.broker.publish({ channel: "dd", data: kib(1) }, policy); // bb goes
    expect(evicted).toEqual(["channels"]);
    expect(engine.streams.size).toBe(3);
    expect((await engine.history.read("aa", { limit: 10 }, policy)).position).toEqual({ offset: 2, epoch: a.epoch });
    const b = await engine.history.read("bb", { limit: 10 }, policy); // made anew (and cc, now the oldest, goes)
    expect(b.position.offset).toBe(0);
    expect(engine.streams.size).toBe(3);
    expect(engine.streams.bytes).toBe(3 * cost); // aa's two and dd's one
    await engine.close();
  });

  it("gives the bytes back when publications expire or a stream is removed", async () => {
    let now = 0;
    const engine = new MemoryEngine({ now: () => now });
    await engine.broker.publish({ channel: "aa", data: kib(1) }, { size: 1, ttlMs: 10, metaTtlMs: 20 });
    await engine.broker.publish({ channel: "aa", data: kib(2) }, { size: 1, ttlMs: 10, metaTtlMs: 20 }); // trimmed to 1
    await engine.broker.publish({ channel: "bb", data: kib(1) }, policy);
    expect(engine.streams.bytes).toBe(2 * cost);
    now = 15;
    engine.streams.sweep();
    expect(engine.streams.bytes).toBe(cost);
    await engine.history.remove("bb");
    expect(engine.streams.bytes).toBe(0);
    await engine.close();
  });
});
