import type { ClientInfo } from "@hubcast/protocol";
import type { KV } from "@nats-io/kv";
import { channelToken } from "../engine/nats-names.js";
import type { PresenceStore } from "./presence.js";

/**
 * Presence in a NATS KV bucket whose entries age out after the bucket's TTL (the NATS server's
 * clock): one key per (channel, connection). Nodes refresh their own entries by writing them
 * again; a crashed node's entries disappear a TTL after its last refresh.
 */
export class NatsPresence implements PresenceStore {
  constructor(private readonly kv: KV) {}

  async add(channel: string, info: ClientInfo): Promise<void> {
    await this.kv.put(key(channel, info.client), JSON.stringify(info));
  }

  async remove(channel: string, clientId: string): Promise<void> {
    await this.kv.purge(key(channel, clientId));
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
    return liveValues<ClientInfo>(this.kv, `${channelToken(channel)}.*`);
  }
}

/** The live values of keys matching `filter` (entries deleted or aged out in between are skipped). */
export async function liveValues<T>(kv: KV, filter: string): Promise<T[]> {
  // A key written while it is listed can be listed twice (its old and its new revision).
  const keys = new Set<string>();
  for await (const k of await kv.keys(filter)) keys.add(k);
  const entries = await Promise.all([...keys].map((k) => kv.get(k)));
  const values: T[] = [];
  for (const entry of entries) {
    if (entry === null || entry.operation !== "PUT" || entry.value.length === 0) continue;
    values.push(entry.json<T>());
  }
  return values;
}

function key(channel: string, clientId: string): string {
  return `${channelToken(channel)}.${channelToken(clientId)}`;
}
