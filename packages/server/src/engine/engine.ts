import type { Broker } from "../broker/broker.js";
import type { HistoryStore } from "../history/history.js";
import type { PresenceStore } from "../presence/presence.js";
import type { NodeRegistry } from "../registry/registry.js";

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
  close(): Promise<void>;
}
