import type { NodeInfo, NodeRegistry } from "./registry.js";

/** A node registry inside one process: the view holds this node, and any announced in-process. */
export class MemoryRegistry implements NodeRegistry {
  private readonly nodes = new Map<string, { info: NodeInfo; expiresAt: number }>();

  /** @param ttlMs an entry not announced again within this many ms leaves the view. */
  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  announce(info: NodeInfo): Promise<void> {
    this.nodes.set(info.id, { info, expiresAt: this.now() + this.ttlMs });
    return Promise.resolve();
  }

  remove(nodeId: string): Promise<void> {
    this.nodes.delete(nodeId);
    return Promise.resolve();
  }

  list(): Promise<NodeInfo[]> {
    const now = this.now();
    const live: NodeInfo[] = [];
    for (const [id, entry] of this.nodes) {
      if (entry.expiresAt <= now) this.nodes.delete(id);
      else live.push(entry.info);
    }
    return Promise.resolve(live.sort((a, b) => a.id.localeCompare(b.id)));
  }

  close(): Promise<void> {
    this.nodes.clear();
    return Promise.resolve();
  }
}
