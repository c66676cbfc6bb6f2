import { pino } from "pino";
import { afterAll, beforeAll } from "vitest";
import { RedisServer } from "../../../../test/support/redis.js";
import { brokerContract } from "../broker/broker.contract.js";
import { presenceContract } from "../presence/presence.contract.js";
import { registryContract } from "../registry/registry.contract.js";
import { RedisEngine } from "./redis.js";

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());

const logger = pino({ level: "silent" });
const engine = (prefix: string): Promise<RedisEngine> => RedisEngine.connect({ target: { url: redis.url }, prefix, logger });

brokerContract("redis", async (prefix) => {
  const e = await engine(prefix);
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
