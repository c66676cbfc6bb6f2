import type { RedisCommander, RedisKeys } from "@hubcast/emitter";
import { EXPIRING_SET_ADD, EXPIRING_SET_REMOVE, EXPIRING_SET_VALUES } from "@hubcast/emitter";
import type { NodeInfo, NodeRegistry } from "./registry.js";

/** The cluster view in Redis: node entries that expire `ttlMs` after their last announcement. */
export class RedisRegistry implements NodeRegistry {
  constructor(
    private readonly redis: RedisCommander,
    private readonly keys: RedisKeys,
    private readonly ttlMs: number,
  ) {}

  async announce(info: NodeInfo): Promise<void> {
    await EXPIRING_SET_ADD.run(this.redis, this.registryKeys(), [info.id, JSON.stringify(info), String(this.ttlMs)]);
  }

  async remove(nodeId: string): Promise<void> {
    await EXPIRING_SET_REMOVE.run(this.redis, this.registryKeys(), [nodeId]);
  }

  async list(): Promise<NodeInfo[]> {
    const raw = (await EXPIRING_SET_VALUES.run(this.redis, this.registryKeys(), [])) as Buffer[];
    return raw.map((value) => JSON.parse(value.toString("utf8")) as NodeInfo).sort((a, b) => a.id.localeCompare(b.id));
  }

  close(): Promise<void> {
    return Promise.resolve(); // the connection belongs to the engine
  }

  private registryKeys(): [string, string] {
    return [this.keys.nodesInfo(), this.keys.nodesExpiry()];
  }
}
