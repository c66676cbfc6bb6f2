import type { Logger } from "pino";
import { resolveChannelOptions } from "../channels.js";
import type { ResolvedNodeOptions } from "../options.js";
import type { Engine } from "./engine.js";
import { MemoryEngine, memoryEngineOptions } from "./memory.js";
import { NatsEngine } from "./nats.js";
import { RedisEngine } from "./redis.js";

/** History the demo namespace keeps when the demo is on (see DEMO_NAMESPACE). */
const DEMO_HISTORY_SIZE = 100;

/**
 * The engine the options name, connected. Rejects (RedisUnavailableError, NatsUnavailableError)
 * when its servers cannot be reached.
 */
export async function createEngine(options: ResolvedNodeOptions, logger: Logger): Promise<Engine> {
  if (options.engine === "memory") return new MemoryEngine(memoryEngineOptions(options));
  if (options.engine === "nats") {
    return NatsEngine.connect({
      ...natsBounds(options),
      servers: options.natsUrl.split(","),
      prefix: options.redisPrefix,
      replicas: options.natsReplicas,
      presenceTtlMs: options.presenceTtlMs,
      nodeTtlMs: options.nodeTtlMs,
      idempotencyWindowMs: options.idempotencyWindowMs,
      logger,
    });
  }
  const target =
    options.redisCluster === "" ? { url: options.redisUrl } : { clusterUrls: options.redisCluster.split(",") };
  return RedisEngine.connect({
    target,
    prefix: options.redisPrefix,
    presenceTtlMs: options.presenceTtlMs,
    nodeTtlMs: options.nodeTtlMs,
    idempotencyWindowMs: options.idempotencyWindowMs,
    logger,
  });
}

/**
 * The NATS history stream's limits are stream-wide, so they are the largest any channel needs:
 * the most publications kept, and the longest a position is kept.
 */
function natsBounds(options: ResolvedNodeOptions): { maxHistorySize: number; maxHistoryAgeMs: number } {
  const all = [options.channel, ...Object.values(options.namespaces)].map((c, i) =>
    resolveChannelOptions(c, i === 0 ? "channel" : "namespaces"),
  );
  const maxHistorySize = Math.max(1, options.demo ? DEMO_HISTORY_SIZE : 1, ...all.map((c) => c.historySize));
  const maxHistoryAgeMs = Math.max(...all.map((c) => c.historyMetaTtlMs));
  return { maxHistorySize, maxHistoryAgeMs };
}
