import { pino } from "pino";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkProxy } from "../../../../test/support/link-proxy.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { brokerContract } from "../broker/broker.contract.js";
import { presenceContract } from "../presence/presence.contract.js";
import { registryContract } from "../registry/registry.contract.js";
import { behindProxy, linkLivenessContract } from "./liveness.contract.js";
import { RedisEngine } from "./redis.js";

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());

const logger = pino({ level: "silent" });
const engine = (prefix: string, idempotencyWindowMs?: number): Promise<RedisEngine> =>
  RedisEngine.connect({ target: { url: redis.url }, prefix, logger, idempotencyWindowMs });

brokerContract("redis", async (prefix, options) => {
  const e = await engine(prefix, options.idempotencyWindowMs);
  return { broker: e.broker, history: e.history, close: () => e.close() };
});

presenceContract("redis", async (prefix) => {
  const e = await engine(prefix);
  return { store: e.presence, close: () => e.close() };
});

registryContract("redis", async (prefix) => {
  const e = await engine(prefix);
  return { store: e.registry, close: () => e.close() };
});

linkLivenessContract("redis", async () => {
  const proxy = new LinkProxy({ host: "127.0.0.1", port: redis.port });
  const url = await proxy.start();
  const e = await RedisEngine.connect({ target: { url }, prefix: `t-${randomUUID()}:`, logger });
  return behindProxy(e, proxy, async () => {
    // Redis lists the subscriber with sub=1 at the proxy's upstream address.
    const subscribers = (await redis.cli("CLIENT", "LIST")).split("\n").filter((l) => /\bsub=[1-9]/.test(l));
    const ports = subscribers.map((l) => Number(/addr=[^ ]*:(\d+)/.exec(l)?.[1]));
    expect(proxy.blackhole((port) => ports.includes(port))).toBe(1);
  });
});

describe("redis engine specifics", () => {
  it("sends a burst of channel subscriptions in a few SUBSCRIBE commands, not one each", async () => {
    const e = await engine(`t-${randomUUID()}:`);
    try {
      await e.broker.start({
        publication: () => undefined,
        join: () => undefined,
        leave: () => undefined,
        resync: () => undefined,
        control: () => undefined,
      });
      const before = await subscribeCalls();
      const channels = Array.from({ length: 3_000 }, (_, i) => `burst:${i}`);
      await Promise.all(channels.map((channel) => e.broker.subscribe([channel])));
      expect((await subscribeCalls()) - before).toBeLessThanOrEqual(3);
      const beforeUnsubscribe = await unsubscribeCalls();
      await Promise.all(channels.map((channel) => e.broker.unsubscribe([channel])));
      expect((await unsubscribeCalls()) - beforeUnsubscribe).toBeLessThanOrEqual(3);
    } finally {
      await e.close();
    }
  });

  it("expires publications after historyTtlMs and starts a new epoch after historyMetaTtlMs", async () => {
    const prefix = `t-${randomUUID()}:`;
    const e = await engine(prefix);
    try {
      const policy = { size: 10, ttlMs: 200, metaTtlMs: 600 };
      const first = await e.broker.publish({ channel: "ttl:x", data: new TextEncoder().encode("1") }, policy);
      await eventuallyGone(`${prefix}:{ttl:x}:stream`);
      const quiet = await e.history.read("ttl:x", { limit: 10 }, policy);
      expect(quiet).toEqual({ publications: [], position: first }); // publications gone, position kept
      await eventuallyGone(`${prefix}:{ttl:x}:meta`);
      const fresh = await e.history.read("ttl:x", { limit: 10 }, policy);
      expect(fresh.position.offset).toBe(0);
      expect(fresh.position.epoch).not.toBe(first?.epoch);
    } finally {
      await e.close();
    }
  });
});

async function commandCalls(name: string): Promise<number> {
  const stats = await redis.cli("INFO", "commandstats");
  return Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
}
const subscribeCalls = (): Promise<number> => commandCalls("subscribe");
const unsubscribeCalls = (): Promise<number> => commandCalls("unsubscribe");

/** Waits (re-checking every 50 ms, up to 5 s) until Redis has expired `key`. */
async function eventuallyGone(key: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while ((await redis.cli("EXISTS", key)) !== "0") {
    if (Date.now() > deadline) throw new Error(`${key} did not expire`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
