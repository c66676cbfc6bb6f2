import type { RawPublication, StreamPosition } from "@hubcast/protocol";
import type { HistoryPolicy } from "../broker/broker.js";

/** A read from a channel's history. */
export interface HistoryQuery {
  /** Only publications after this offset (ignored when its epoch is not the current one). */
  since?: StreamPosition;
  /** Most publications to return. */
  limit: number;
  /** Newest first. */
  reverse?: boolean;
}

export interface HistoryPage {
  /** Publications with their offsets, in the order asked for. */
  publications: RawPublication[];
  /** The channel's position when the read happened. */
  position: StreamPosition;
  /**
   * Offsets of entries the store holds but could not read (their `info` is not JSON). They
   * stay in `publications`, so counts over offsets (recovery) remain whole; replies leave
   * them out. Absent when every entry was read.
   */
  unreadable?: readonly number[];
}

/**
 * Where each channel's publications are kept, with positions. Appends happen inside
 * `Broker.publish` so they are atomic with fan-out; this seam reads.
 */
export interface HistoryStore {
  /**
   * Reads a channel's history. A channel never published to still gets a position (offset 0)
   * whose epoch is kept for `policy.metaTtlMs`, so a subscriber's position stays meaningful.
   */
  read(channel: string, query: HistoryQuery, policy: HistoryPolicy): Promise<HistoryPage>;
  /** Drops a channel's history; its next position has a new epoch. */
  remove(channel: string): Promise<void>;
}

/** Why an engine dropped retained history before its time: its node-wide bound on bytes, or on channels. */
export type EvictionReason = "bytes" | "channels";
