import { IdempotencyKeys } from "../broker/idempotency.js";
import { MemoryBroker } from "../broker/memory.js";
import { MemoryHistory } from "../history/memory.js";
import { MemoryStreams } from "../history/memory-streams.js";
import { MemoryPresence } from "../presence/memory.js";
import { MemoryRegistry } from "../registry/memory.js";
import type { ResolvedNodeOptions } from "../options.js";
import type { Engine, EngineObserver } from "./engine.js";

export interface MemoryEngineOptions {
  /** Clock, for tests. @default Date.now */
  now?: () => number;
  /** How often expired history streams are dropped, in ms. @default 10_000 */
  sweepIntervalMs?: number;
  /** Registry entry lifetime, in ms. @default 30_000 */
  nodeTtlMs?: number;
  /** Node-wide bound on retained publications, in bytes (see MemoryStreams). @default Infinity */
  historyMaxBytes?: number;
  /** Node-wide bound on channels holding history. @default Infinity */
  historyMaxChannels?: number;
  /** How long a publish's idempotency key is remembered, in ms. @default 300_000 */
  idempotencyWindowMs?: number;
}

/** The memory engine's options as the node options set them. */
export function memoryEngineOptions(
  options: Pick<
    ResolvedNodeOptions,
    "nodeTtlMs" | "memoryHistoryMaxBytes" | "memoryHistoryMaxChannels" | "idempotencyWindowMs"
  >,
): MemoryEngineOptions {
  return {
    nodeTtlMs: options.nodeTtlMs,
    historyMaxBytes: options.memoryHistoryMaxBytes,
    historyMaxChannels: options.memoryHistoryMaxChannels,
    idempotencyWindowMs: options.idempotencyWindowMs,
  };
}

/** The embedded default: everything in this process, nothing to set up. */
export class MemoryEngine implements Engine {
  readonly name = "memory";
  readonly streams: MemoryStreams;
  readonly broker: MemoryBroker;
  readonly history: MemoryHistory;
  readonly presence = new MemoryPresence();
  readonly registry: MemoryRegistry;
  private readonly sweepTimer: NodeJS.Timeout;
  private observer: EngineObserver | undefined;

  constructor(options: MemoryEngineOptions = {}) {
    const now = options.now ?? Date.now;
    this.streams = new MemoryStreams(now, {
      maxBytes: options.historyMaxBytes,
      maxChannels: options.historyMaxChannels,
      evicted: (reason) => this.observer?.historyEvicted?.(reason),
    });
    this.broker = new MemoryBroker(this.streams, {
      idempotency: new IdempotencyKeys(options.idempotencyWindowMs ?? 300_000, now),
      now,
    });
    this.history = new MemoryHistory(this.streams);
    this.registry = new MemoryRegistry(options.nodeTtlMs ?? 30_000, now);
    this.sweepTimer = setInterval(() => this.streams.sweep(), options.sweepIntervalMs ?? 10_000);
    this.sweepTimer.unref();
  }

  observe(observer: EngineObserver): void {
    this.observer = observer;
  }

  isReady(): boolean {
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.broker.close();
    await this.presence.close();
    await this.registry.close();
  }
}
