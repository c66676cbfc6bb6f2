import { describe, expect, it } from "vitest";
import { brokerContract } from "../broker/broker.contract.js";
import { presenceContract } from "../presence/presence.contract.js";
import { MemoryRegistry } from "../registry/memory.js";
import { registryContract } from "../registry/registry.contract.js";
import { MemoryEngine } from "./memory.js";

brokerContract("memory", () => {
  const engine = new MemoryEngine();
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
    await registry.announce({ id: "n", address: "", version: "", startedAt: 0, connections: 0, subscriptions: 0, channels: 0 });
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
