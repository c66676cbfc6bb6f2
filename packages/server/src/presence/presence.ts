import type { ClientInfo } from "@hubcast/protocol";

/**
 * Who is in each channel. Entries expire unless refreshed, so the entries of a node that
 * crashed disappear; the node refreshes its own entries while they live.
 */
export interface PresenceStore {
  /** Adds or refreshes one connection's entry. */
  add(channel: string, info: ClientInfo): Promise<void>;
  remove(channel: string, clientId: string): Promise<void>;
  /** Connection id → info, for live entries. */
  get(channel: string): Promise<Record<string, ClientInfo>>;
  /** Counts of live connections and distinct users. */
  stats(channel: string): Promise<{ numClients: number; numUsers: number }>;
  close(): Promise<void>;
}
