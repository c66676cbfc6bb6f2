import type { ClientInfo } from "@hubcast/protocol";
import type { KV } from "@nats-io/kv";
import { channelToken } from "../engine/nats-names.js";
import type { PresenceStore } from "./presence.js";

/**
 * Presence in a NATS KV bucket whose entries age out after the bucket's TTL (the NATS server's
 * clock): one key per (channel, connection). Nodes refresh their own entries by writing them
 * again; a crashed node's entries disappear a TTL after its last refresh. JetStream removes an
 * expired entry on its own timer, seconds late on a busy server, so reads leave out entries
 * older than the TTL themselves (as the cluster view does).
 */
export class NatsPresence implements PresenceStore {
  constructor(
    private readonly kv: KV,
    /** The bucket's TTL; `undefined` when entries never age out. */
    private readonly ttlMs: number | undefined,
  ) {}

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
    return liveValues<ClientInfo>(this.kv, `${channelToken(channel)}.*`, this.ttlMs);
  }
}

/**
 * How long one listing of a bucket's keys may take. A listing reads the bucket's stream up to
 * the count the server gave when it started; entries that age out meanwhile never arrive, and
 * the listing would wait for them for ever (nats-server#3481). Past this it starts again.
 */
export const KEY_LISTING_TIMEOUT_MS = 2_000;
/** Listings tried before giving up (entries expiring through every one of them). */
const KEY_LISTING_ATTEMPTS = 3;

/** The keys matching `filter`, listed again if a listing stalls; rejects after the last attempt stalls. */
async function listKeys(kv: KV, filter: string): Promise<Set<string>> {
  for (let attempt = 1; ; attempt += 1) {
    // A key written while it is listed can be listed twice (its old and its new revision).
    const keys = new Set<string>();
    const listing = await kv.keys(filter);
    const read = (async () => {
      for await (const k of listing) keys.add(k);
      return true;
    })();
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), KEY_LISTING_TIMEOUT_MS);
    });
    const finished = await Promise.race([read, stalled]).finally(() => clearTimeout(timer));
    if (finished) return keys;
    // Ends the stalled listing and its consumer. Not awaited: a listing that ignored the stop
    // must not hang this call too; what it might still throw is of no use to anyone.
    listing.stop();
    read.catch(() => false);
    if (attempt >= KEY_LISTING_ATTEMPTS)
      throw new Error(`listing the keys ${filter} stalled ${KEY_LISTING_ATTEMPTS} times (entries expiring meanwhile)`);
  }
}

/**
 * The live values of keys matching `filter` (entries deleted or aged out in between are
 * skipped), leaving out entries written more than `maxAgeMs` ago that the server has not yet
 * removed. An entry's age is this process's clock minus the time the server stamped on it, so
 * the nodes' clocks must agree with the NATS server's within the TTL less the refresh interval
 * (NTP does far better), or a live entry reads as expired.
 */
export async function liveValues<T>(kv: KV, filter: string, maxAgeMs?: number): Promise<T[]> {
  const keys = await listKeys(kv, filter);
  const entries = await Promise.all([...keys].map((k) => kv.get(k)));
  const oldest = maxAgeMs === undefined ? 0 : Date.now() - maxAgeMs;
  const values: T[] = [];
  for (const entry of entries) {
    if (entry === null || entry.operation !== "PUT" || entry.value.length === 0) continue;
    if (entry.created.getTime() < oldest) continue; // expired, not yet removed by the server
    values.push(entry.json<T>());
  }
  return values;
}

function key(channel: string, clientId: string): string {
  return `${channelToken(channel)}.${channelToken(clientId)}`;
}
