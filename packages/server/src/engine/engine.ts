import type { Broker } from "../broker/broker.js";
import type { EvictionReason, HistoryStore } from "../history/history.js";
import type { PresenceStore } from "../presence/presence.js";
import type { NodeRegistry } from "../registry/registry.js";

/** An engine's connection, as its liveness checks name it: the subscribing one, or the one for commands. */
export type EngineLink = "pubsub" | "command";

/**
 * How often engines ping each connection, and how long a ping may go unanswered before the
 * link is declared dead: a silent link is noticed within 3 s.
 */
export const LINK_LIVENESS_DEFAULTS = Object.freeze({ pingIntervalMs: 1_000, pongTimeoutMs: 2_000 });

/** What an engine tells the node about its connections and its bounds, for metrics. */
export interface EngineObserver {
  /** A connection came back after a disconnect. */
  reconnected(): void;
  /** A connection reported an error. */
  error(): void;
  /** A connection went silent (its liveness check went unanswered); called once per silent episode. */
  linkDead?(link: EngineLink): void;
  /** Retained history was dropped before its time to keep within a node-wide bound (the memory engine's). */
  historyEvicted?(reason: EvictionReason): void;
}

/** The set of backends a node runs on. The Hub, sessions and HTTP code see only these seams. */
export interface Engine {
  readonly name: string;
  readonly broker: Broker;
  readonly history: HistoryStore;
  readonly presence: PresenceStore;
  readonly registry: NodeRegistry;
  /** How often the node must re-add its presence entries before they expire; `undefined`: they never expire. */
  readonly presenceRefreshMs?: number;
  /** False while the backends cannot serve (for example, their server is unreachable). */
  isReady(): boolean;
  /** Reports connection events from now on; engines without connections need not implement it. */
  observe?(observer: EngineObserver): void;
  close(): Promise<void>;
}
