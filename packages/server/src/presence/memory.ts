import type { ClientInfo } from "@hubcast/protocol";
import type { PresenceStore } from "./presence.js";

/** Presence for one process. Nothing can crash apart from the process, so no expiry is needed. */
export class MemoryPresence implements PresenceStore {
  private readonly channels = new Map<string, Map<string, ClientInfo>>();

  add(channel: string, info: ClientInfo): Promise<void> {
    let clients = this.channels.get(channel);
    if (clients === undefined) {
      clients = new Map();
      this.channels.set(channel, clients);
    }
    clients.set(info.client, info);
    return Promise.resolve();
  }

  remove(channel: string, clientId: string): Promise<void> {
    const clients = this.channels.get(channel);
    if (clients !== undefined) {
      clients.delete(clientId);
      if (clients.size === 0) this.channels.delete(channel);
    }
    return Promise.resolve();
  }

  get(channel: string): Promise<Record<string, ClientInfo>> {
    return Promise.resolve(Object.fromEntries(this.channels.get(channel) ?? []));
  }

  stats(channel: string): Promise<{ numClients: number; numUsers: number }> {
    const clients = this.channels.get(channel);
    if (clients === undefined) return Promise.resolve({ numClients: 0, numUsers: 0 });
    const users = new Set<string>();
    for (const info of clients.values()) users.add(info.user);
    return Promise.resolve({ numClients: clients.size, numUsers: users.size });
  }

  close(): Promise<void> {
    this.channels.clear();
    return Promise.resolve();
  }
}
