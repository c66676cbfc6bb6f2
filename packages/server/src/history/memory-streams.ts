import { randomBytes } from "node:crypto";
import type { RawPublication, StreamPosition } from "@hubcast/protocol";
import type { HistoryPolicy } from "../broker/broker.js";
import type { EvictionReason, HistoryPage, HistoryQuery } from "./history.js";

interface Stream {
  epoch: string;
  /** Offset of the newest publication; 0 before the first. */
  offset: number;
  /** Retained publications, oldest first; a ring would save copies but sizes are small. */
  items: RawPublication[];
  /** What {@link itemBytes} counts for `items`. */
  bytes: number;
  /** When the retained publications are dropped (the position stays). */
  itemsExpireAt: number;
  /** When the whole stream, position included, is dropped; the next one has a new epoch. */
  metaExpiresAt: number;
}

/** A fresh epoch: random, short, URL-safe. */
export const newEpoch = (): string => randomBytes(6).toString("base64url");

/** Node-wide bounds of a {@link MemoryStreams}, and what it tells when it enforces them. */
export interface StreamLimits {
  /** Most bytes of retained publications (as {@link itemBytes} counts them). @default Infinity */
  maxBytes?: number;
  /** Most streams (channels with a position). @default Infinity */
  maxChannels?: number;
  /** Called once per eviction: publications dropped for `bytes`, or a whole stream for `channels`. */
  evicted?: (reason: EvictionReason) => void;
}

/**
 * What one retained publication costs, roughly: its data, its strings, and the objects that
 * hold them. `info.info` (user data from a token) is left out: it is one object shared by every
 * publication of a connection, not a copy per publication.
 */
const ITEM_OVERHEAD_BYTES = 160;
export function itemBytes(pub: RawPublication): number {
  return (
    pub.data.byteLength +
    pub.channel.length +
    (pub.info === undefined ? 0 : pub.info.client.length + pub.info.user.length) +
    ITEM_OVERHEAD_BYTES
  );
}

/**
 * In-process channel streams for the memory engine: bounded per channel by `policy.size`;
 * publications dropped `policy.ttlMs` after the last publication, the position
 * `policy.metaTtlMs` after it (a later stream starts a new epoch).
 *
 * Bounded node-wide too, so clients publishing to many fresh channels cannot make the node
 * hold history without end: past `maxBytes`, the oldest publications of the least recently
 * published channels are dropped (their positions stay, so a client resubscribing there learns
 * `recovered: false`); past `maxChannels`, the least recently published stream is dropped whole
 * (its next publication starts a new epoch). Both orders are kept by re-inserting a channel in
 * its map on each append, so an eviction is O(1).
 */
export class MemoryStreams {
  /** Every stream, least recently published first. */
  private readonly streams = new Map<string, Stream>();
  /** The streams holding publications, least recently published first. */
  private readonly retaining = new Map<string, Stream>();
  private retainedBytes = 0;
  private readonly maxBytes: number;
  private readonly maxChannels: number;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly limits: StreamLimits = {},
  ) {
    this.maxBytes = limits.maxBytes ?? Number.POSITIVE_INFINITY;
    this.maxChannels = limits.maxChannels ?? Number.POSITIVE_INFINITY;
  }

  /** Appends and returns the publication's position; `pub.offset` is assigned here. */
  append(pub: RawPublication, policy: HistoryPolicy): StreamPosition {
    const stream = this.stream(pub.channel, policy);
    this.touch(pub.channel, stream);
    stream.offset += 1;
    const item = { ...pub, offset: stream.offset };
    stream.items.push(item);
    this.grow(stream, itemBytes(item));
    if (stream.items.length > policy.size) this.dropOldest(stream, stream.items.length - policy.size);
    const now = this.now();
    stream.itemsExpireAt = now + policy.ttlMs;
    stream.metaExpiresAt = now + policy.metaTtlMs;
    const position = { offset: stream.offset, epoch: stream.epoch };
    this.enforceBytes();
    return position;
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
    const stream = this.streams.get(channel);
    if (stream === undefined) return;
    this.clearItems(channel, stream);
    this.streams.delete(channel);
  }

  /** Drops expired publications and streams; returns how many streams were dropped. */
  sweep(): number {
    const now = this.now();
    let dropped = 0;
    for (const [channel, stream] of this.streams) {
      if (stream.metaExpiresAt <= now) {
        this.remove(channel);
        dropped += 1;
      } else if (stream.itemsExpireAt <= now) {
        this.clearItems(channel, stream);
      }
    }
    return dropped;
  }

  /** Number of channels holding a stream (for stats and tests). */
  get size(): number {
    return this.streams.size;
  }

  /** Bytes of retained publications, as {@link itemBytes} counts them (for stats and tests). */
  get bytes(): number {
    return this.retainedBytes;
  }

  private stream(channel: string, policy: HistoryPolicy): Stream {
    const now = this.now();
    let stream = this.streams.get(channel);
    if (stream !== undefined && stream.metaExpiresAt <= now) {
      this.remove(channel);
      stream = undefined;
    }
    if (stream === undefined) {
      stream = {
        epoch: newEpoch(),
        offset: 0,
        items: [],
        bytes: 0,
        itemsExpireAt: now + policy.ttlMs,
        metaExpiresAt: now + policy.metaTtlMs,
      };
      this.streams.set(channel, stream);
      this.enforceChannels(channel);
    } else if (stream.itemsExpireAt <= now) {
      this.clearItems(channel, stream);
    }
    return stream;
  }

  /** Moves `channel` to the most recently published end of both orders. */
  private touch(channel: string, stream: Stream): void {
    this.streams.delete(channel);
    this.streams.set(channel, stream);
    this.retaining.delete(channel);
    this.retaining.set(channel, stream);
  }

  private grow(stream: Stream, bytes: number): void {
    stream.bytes += bytes;
    this.retainedBytes += bytes;
  }

  private dropOldest(stream: Stream, count: number): void {
    let bytes = 0;
    for (const item of stream.items.splice(0, count)) bytes += itemBytes(item);
    this.grow(stream, -bytes);
  }

  private clearItems(channel: string, stream: Stream): void {
    this.grow(stream, -stream.bytes);
    stream.items = [];
    this.retaining.delete(channel);
  }

  /** Drops the oldest publications of the least recently published channels until under maxBytes. */
  private enforceBytes(): void {
    while (this.retainedBytes > this.maxBytes) {
      const oldest = this.retaining.entries().next().value;
      if (oldest === undefined) return;
      const [channel, stream] = oldest;
      const excess = this.retainedBytes - this.maxBytes;
      if (stream.bytes <= excess) this.clearItems(channel, stream);
      else this.dropOldest(stream, itemsCovering(stream.items, excess));
      this.limits.evicted?.("bytes");
    }
  }

  /** Drops the least recently published streams (not `keep`, just made) until at most maxChannels remain. */
  private enforceChannels(keep: string): void {
    while (this.streams.size > this.maxChannels) {
      const oldest = this.streams.keys().next().value;
      if (oldest === undefined || oldest === keep) return;
      this.remove(oldest);
      this.limits.evicted?.("channels");
    }
  }
}

/** How many of the oldest `items` add up to at least `bytes`. */
function itemsCovering(items: readonly RawPublication[], bytes: number): number {
  let count = 0;
  let covered = 0;
  for (const item of items) {
    if (covered >= bytes) break;
    covered += itemBytes(item);
    count += 1;
  }
  return count;
}
