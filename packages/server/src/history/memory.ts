import type { HistoryPolicy } from "../broker/broker.js";
import type { HistoryPage, HistoryQuery, HistoryStore } from "./history.js";
import type { MemoryStreams } from "./memory-streams.js";

/** History reads for the memory engine, over the streams its broker appends to. */
export class MemoryHistory implements HistoryStore {
  constructor(private readonly streams: MemoryStreams) {}

  read(channel: string, query: HistoryQuery, policy: HistoryPolicy): Promise<HistoryPage> {
    return Promise.resolve(this.streams.read(channel, query, policy));
  }

  remove(channel: string): Promise<void> {
    this.streams.remove(channel);
    return Promise.resolve();
  }
}
