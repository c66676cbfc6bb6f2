import type { Logger } from "pino";
import type { ResolvedNodeOptions } from "../options.js";
import type { Engine } from "./engine.js";
import { MemoryEngine, memoryEngineOptions } from "./memory.js";
import { RedisEngine } from "./redis.js";

/** The engine the options name, connected. Rejects (RedisUnavailableError) when Redis cannot be reached. */
export async function createEngine(options: ResolvedNodeOptions, logger: Logger): Promise<Engine> {
  if (options.engine === "memory") return new MemoryEngine(memoryEngineOptions(options));
  const target = options.redisCluster === "" ? { url: options.redisUrl } : { clusterUrls: options.redisCluster.split(",") };
  return RedisEngine.connect({
    target,
    prefix: options.redisPrefix,
    presenceTtlMs: options.presenceTtlMs,
    nodeTtlMs: options.nodeTtlMs,
    idempotencyWindowMs: options.idempotencyWindowMs,
    logger,
  });
}
