import { randomBytes } from "node:crypto";
import type { RawPublication, StreamPosition } from "@hubcast/protocol";
import type { HistoryPolicy } from "../broker/broker.js";
import type { HistoryPage, HistoryQuery } from "./history.js";

interface Stream {
  epoch: string;
  /** Offset of the newest publication; 0 before the first. */
  offset: number;
  /** Retained publications, oldest first; a ring would save copies but sizes are small. */
  items: RawPublication[];
  /** When the retained publications are dropped (the position stays). */
  itemsExpireAt: number;
  /** When the whole stream, position included, is dropped; the next one has a new epoch. */
  metaExpiresAt: number;
}

/** A fresh epoch: random, short, URL-safe. */
export const newEpoch = (): string => randomBytes(6).toString("base64url");

/**
 * In-process channel streams for the memory engine: bounded per channel by `policy.size`;
 * publications dropped `policy.ttlMs` after the last publication, the position
 * `policy.metaTtlMs` after it (a later stream starts a new epoch).
 */
export class MemoryStreams {
  private readonly streams = new Map<string, Stream>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Appends and returns the publication's position; `pub.offset` is assigned here. */
  append(pub: RawPublication, policy: HistoryPolicy): StreamPosition {
    const stream = this.stream(pub.channel, policy);
    stream.offset += 1;
    stream.items.push({ ...pub, offset: stream.offset });
    if (stream.items.length > policy.size) stream.items.splice(0, stream.items.length - policy.size);
    const now = this.now();
    stream.itemsExpireAt = now + policy.ttlMs;
    stream.metaExpiresAt = now + policy.metaTtlMs;
    return { offset: stream.offset, epoch: stream.epoch };
  }

  read(channel: string, query: HistoryQuery, policy: HistoryPolicy): HistoryPage {
    const stream = this.stream(channel, policy);
    const position = { offset: stream.offset, epoch: stream.epoch };
    let items = stream.items;
    if (query.since !== undefined && query.since.epoch === stream.epoch) {
      const after = query.since.offset;
      items = items.filter((p) => (p.offset ?? 0) > after);
    }
    const limit = Math.min(query.limit, items.length);
    const publications = query.reverse === true ? items.slice(items.length - limit).reverse() : items.slice(0, limit);
    return { publications, position };
  }

  remove(channel: string): void {
    this.streams.delete(channel);
  }

  /** Drops expired publications and streams; returns how many streams were dropped. */
  sweep(): number {
    const now = this.now();
    let dropped = 0;
    for (const [channel, stream] of this.streams) {
      if (stream.metaExpiresAt <= now) {
        this.streams.delete(channel);
        dropped += 1;
      } else if (stream.itemsExpireAt <= now) {
        stream.items = [];
      }
    }
    return dropped;
  }

  /** Number of channels holding a stream (for stats and tests). */
  get size(): number {
    return this.streams.size;
  }

  private stream(channel: string, policy: HistoryPolicy): Stream {
    const now = this.now();
    let stream = this.streams.get(channel);
    if (stream !== undefined && stream.metaExpiresAt <= now) {
      this.streams.delete(channel);
      stream = undefined;
    }
    if (stream === undefined) {
      stream = { epoch: newEpoch(), offset: 0, items: [], itemsExpireAt: now + policy.ttlMs, metaExpiresAt: now + policy.metaTtlMs };
      this.streams.set(channel, stream);
    } else if (stream.itemsExpireAt <= now) {
      stream.items = [];
    }
    return stream;
  }
}
