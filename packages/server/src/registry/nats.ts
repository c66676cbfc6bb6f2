import type { KV } from "@nats-io/kv";
import { channelToken } from "../engine/nats-names.js";
import { liveValues } from "../presence/nats.js";
import type { NodeInfo, NodeRegistry } from "./registry.js";

/**
 * The cluster view in a NATS KV bucket: one key per node, aging out a TTL after its last
 * announcement. JetStream removes an expired entry on its own timer, seconds late on a busy
 * server, so {@link list} leaves out entries older than the TTL itself.
 */
export class NatsRegistry implements NodeRegistry {
  constructor(
    private readonly kv: KV,
    /** The bucket's TTL; `undefined` when entries never age out. */
    private readonly ttlMs: number | undefined,
  ) {}

  async announce(info: NodeInfo): Promise<void> {
    await this.kv.put(channelToken(info.id), JSON.stringify(info));
  }

  async remove(nodeId: string): Promise<void> {
    await this.kv.purge(channelToken(nodeId));
  }

  async list(): Promise<NodeInfo[]> {
    const nodes = await liveValues<NodeInfo>(this.kv, ">", this.ttlMs);
    return nodes.sort((a, b) => a.id.localeCompare(b.id));
  }

  close(): Promise<void> {
    return Promise.resolve(); // the connection belongs to the engine
  }
}
