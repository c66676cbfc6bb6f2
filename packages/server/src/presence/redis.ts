import type { ClientInfo } from "@hubcast/protocol";
import type { RedisCommander, RedisKeys } from "@hubcast/emitter";
import { EXPIRING_SET_ADD, EXPIRING_SET_REMOVE, EXPIRING_SET_VALUES } from "@hubcast/emitter";
import type { PresenceStore } from "./presence.js";

/**
 * Presence in Redis: per channel a hash of entries and a sorted set of their expiry times
 * (Redis server time, so nodes' clocks do not matter). Nodes refresh their own entries; those
 * of a crashed node disappear `ttlMs` after its last refresh.
 */
export class RedisPresence implements PresenceStore {
  constructor(
    private readonly redis: RedisCommander,
    private readonly keys: RedisKeys,
    private readonly ttlMs: number,
  ) {}

  async add(channel: string, info: ClientInfo): Promise<void> {
    await EXPIRING_SET_ADD.run(this.redis, this.channelKeys(channel), [
      info.client,
      JSON.stringify(info),
      String(this.ttlMs),
    ]);
  }

  async remove(channel: string, clientId: string): Promise<void> {
    await EXPIRING_SET_REMOVE.run(this.redis, this.channelKeys(channel), [clientId]);
  }

  async get(channel: string): Promise<Record<string, ClientInfo>> {
    const entries: Record<string, ClientInfo> = {};
    for (const info of await this.values(channel)) entries[info.client] = info;
    return entries;
  }

  async stats(channel: string): Promise<{ numClients: number; numUsers: number }> {
    const values = await this.values(channel);
    return { numClients: values.length, numUsers: new Set(values.map((v) => v.user)).size };
  }

  close(): Promise<void> {
    return Promise.resolve(); // the connection belongs to the engine
  }

  private async values(channel: string): Promise<ClientInfo[]> {
    const raw = (await EXPIRING_SET_VALUES.run(this.redis, this.channelKeys(channel), [])) as Buffer[];
    return raw.map((value) => JSON.parse(value.toString("utf8")) as ClientInfo);
  }

  private channelKeys(channel: string): [string, string] {
    return [this.keys.presence(channel), this.keys.presenceExpiry(channel)];
  }
}
