/** What a node says about itself on every heartbeat. */
export interface NodeInfo {
  id: string;
  /** Where clients reach it, e.g. `http://10.0.0.5:8080`. */
  address: string;
  version: string;
  startedAt: number;
  connections: number;
  subscriptions: number;
  channels: number;
}

/**
 * Which nodes are alive. Each node announces itself periodically; an entry not refreshed
 * within the registry's TTL leaves the view.
 */
export interface NodeRegistry {
  announce(info: NodeInfo): Promise<void>;
  /** Removes a node at once (graceful shutdown). */
  remove(nodeId: string): Promise<void>;
  /** Live nodes, ordered by id. */
  list(): Promise<NodeInfo[]>;
  close(): Promise<void>;
}
