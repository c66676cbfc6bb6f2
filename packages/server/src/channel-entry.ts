import type { RawPublication, StreamPosition } from "@hubcast/protocol";
import type { Logger } from "pino";
import type { HistoryPolicy } from "./broker/broker.js";
import { DeltaChain } from "./delta-chain.js";
import type { HistoryPage } from "./history/history.js";
import type { SentCounter, Subscriber } from "./fanout.js";
import { writeFanout } from "./fanout.js";
import { recoverSince } from "./recovery.js";

/** How long a subscriber whose history read ran ahead of broker delivery waits before history is re-read. */
export const CATCH_UP_WAIT_MS = 1_000;

/** The time constant of a channel's publication rate, in ms: bursts show at once and fade over about this long. */
export const RATE_SMOOTHING_MS = 5_000;

/** Repair reads retried this many times (backoff up to 2 s, about 30 s in all) before subscribers are asked to resubscribe. */
const SYNC_READ_ATTEMPTS = 18;

/** A subscription between "subscribe asked" and "live". */
interface Pending {
  /** Every publication seen for the channel since the subscription started, in any order. */
  buffer: RawPublication[];
  /** Position its history read returned; `undefined` until its reply is written. */
  top: StreamPosition | undefined;
  /** It asked for deltas (and its namespace allows them). */
  delta: boolean;
}

/** What a channel entry needs from its Hub. */
export interface EntryHooks {
  policyFor(channel: string): HistoryPolicy | undefined;
  read(channel: string, since: StreamPosition, policy: HistoryPolicy): Promise<HistoryPage>;
  /** False once the Hub has dropped this entry (every subscriber left). */
  isCurrent(entry: ChannelEntry): boolean;
  logger: Logger;
  /** Counts each publication fan-out once. */
  sent: SentCounter;
  /** A repair ended: history covered the gap, or subscribers were asked to resubscribe. */
  repaired(result: "repaired" | "resubscribe"): void;
  /** A publication went as a delta to `deliveries` subscribers, each `savedBytes` of data fewer than in full. */
  deltaDelivered(deliveries: number, savedBytes: number): void;
  /** The connection a publication must not reach (its protocol's sender), if any. */
  exceptOf(pub: RawPublication): string | undefined;
}

/**
 * One channel's local subscribers and the position they have all reached. Invariant: every
 * live subscriber has received exactly the publications up to `lastOffset` of `epoch`.
 */
export class ChannelEntry {
  private readonly live = new Set<Subscriber>();
  private readonly pending = new Map<Subscriber, Pending>();
  private lastOffset: number | undefined;
  private epoch: string | undefined;
  /** While history is re-read: the subscribers being repaired and what arrived meanwhile. */
  private sync: { group: Set<Subscriber>; buffer: RawPublication[] } | undefined;
  private catchUpTimer: NodeJS.Timeout | undefined;
  /** Publications delivered here so far, and how many of them the last rate sample had seen. */
  private publications = 0;
  private publicationsSampled = 0;
  private rate = 0;
  /** Delta compression for subscribers that asked for it. */
  private readonly deltas = new DeltaChain();

  constructor(
    readonly channel: string,
    /** Settles when the broker subscription for this entry is in place. */
    readonly brokerSubscribed: Promise<void>,
    private readonly hooks: EntryHooks,
  ) {}

  get liveCount(): number {
    return this.live.size + (this.sync?.group.size ?? 0);
  }

  get isEmpty(): boolean {
    return this.liveCount === 0 && this.pending.size === 0;
  }

  liveSubscribers(): Iterable<Subscriber> {
    return this.live;
  }

  /** `delta`: it gets publications as deltas against the previous one once it has had one in full. */
  addPending(sub: Subscriber, delta = false): void {
    this.pending.set(sub, { buffer: [], top: undefined, delta });
  }

  /** Returns true when `sub` was subscribed here. */
  remove(sub: Subscriber): boolean {
    this.deltas.remove(sub);
    const removed = this.live.delete(sub) || this.pending.delete(sub);
    return this.sync?.group.delete(sub) === true || removed;
  }

  dispose(): void {
    clearTimeout(this.catchUpTimer);
  }

  promote(sub: Subscriber, top: StreamPosition | undefined): boolean {
    const pending = this.pending.get(sub);
    if (pending === undefined) return false;
    if (top === undefined) {
      this.pending.delete(sub);
      for (const pub of pending.buffer) this.fanOut([sub], pub);
      this.goLive(sub, pending);
      return true;
    }
    pending.top = top;
    if (this.epoch !== undefined && top.epoch !== this.epoch) this.restartEpoch(top, "history has a new epoch");
    if (this.lastOffset === undefined) {
      this.lastOffset = top.offset;
      this.epoch = top.epoch;
    }
    this.promoteCaughtUp();
    if (this.pending.get(sub) !== undefined) this.scheduleCatchUp();
    return true;
  }

  /** Publications per second reaching this channel, smoothed over about {@link RATE_SMOOTHING_MS}; updated by {@link sampleRate}. */
  get publicationRate(): number {
    return this.rate;
  }

  /** Folds the publications of the last `elapsedMs` into {@link publicationRate}; called once per sampling period. */
  sampleRate(elapsedMs: number): void {
    if (elapsedMs <= 0) return;
    const perSecond = ((this.publications - this.publicationsSampled) * 1000) / elapsedMs;
    this.publicationsSampled = this.publications;
    this.rate += (perSecond - this.rate) * (1 - Math.exp(-elapsedMs / RATE_SMOOTHING_MS));
  }

  deliver(pub: RawPublication): void {
    this.publications += 1; // the rate's whole cost: nothing per subscriber
    for (const pending of this.pending.values()) pending.buffer.push(pub);
    if (pub.offset === undefined) {
      this.fanOutLive(pub);
      return;
    }
    if (this.sync !== undefined) {
      this.sync.buffer.push(pub);
      return;
    }
    if (this.epoch !== undefined && pub.epoch !== undefined && pub.epoch !== this.epoch) {
      this.restartEpoch({ offset: pub.offset, epoch: pub.epoch }, "publication from a new epoch");
    } else if (this.lastOffset === undefined || pub.offset === this.lastOffset + 1) {
      this.lastOffset = pub.offset;
      this.epoch ??= pub.epoch;
      this.fanOutLive(pub);
    } else if (pub.offset > this.lastOffset + 1) {
      if (this.live.size === 0 && this.pending.size === 0) this.lastOffset = pub.offset;
      else this.startSync(`gap: expected offset ${this.lastOffset + 1}, got ${pub.offset}`, [pub]);
    } // else: a duplicate of something already delivered
    this.promoteCaughtUp();
  }

  /** Catch-up for some subscribers (pending, or being repaired): always in full. */
  private fanOut(subscribers: Iterable<Subscriber>, pub: RawPublication): void {
    writeFanout({
      subscribers,
      encode: (codec) => codec.encodePublication(pub),
      sent: this.hooks.sent,
      except: this.hooks.exceptOf(pub),
    });
  }

  /**
   * The next publication of the channel to every live subscriber: in full, and as a delta
   * (computed once) to those holding the previous one, when that is smaller.
   */
  private fanOutLive(pub: RawPublication): void {
    const except = this.hooks.exceptOf(pub);
    const delta = this.deltas.deltaOf(pub);
    writeFanout({
      subscribers: this.live,
      encode: (codec) => codec.encodePublication(pub),
      sent: this.hooks.sent,
      except,
      alternative:
        delta === undefined ? undefined : { for: this.deltas.ready, encode: (codec) => codec.encodePublication(delta) },
    });
    if (delta !== undefined) this.hooks.deltaDelivered(this.deltas.ready.size, pub.data.length - delta.data.length);
    // While a repair is under way the chain stays broken (startSync restarted it, so everyone
    // gets this in full): those being repaired miss this publication, so it is no one's base.
    if (this.sync === undefined) this.deltas.advance(pub, except);
  }

  private goLive(sub: Subscriber, pending: Pending): void {
    this.live.add(sub);
    if (pending.delta) this.deltas.add(sub);
  }

  /** Re-reads history for this channel's live subscribers (after a broker reconnect). */
  resync(reason: string): void {
    if (this.lastOffset !== undefined && this.sync === undefined) this.startSync(reason, []);
  }

  private startSync(reason: string, buffer: RawPublication[]): void {
    const policy = this.hooks.policyFor(this.channel);
    const since =
      this.lastOffset === undefined || this.epoch === undefined
        ? undefined
        : { offset: this.lastOffset, epoch: this.epoch };
    if (policy === undefined || since === undefined) return;
    this.hooks.logger.warn({ channel: this.channel, reason, since }, "re-reading history to repair a channel");
    this.deltas.restart();
    this.sync = { group: new Set(this.live), buffer };
    this.live.clear();
    this.readForSync(since, policy, 0);
  }

  /** Reads history for a repair, retrying with backoff while the store is unreachable (it may be restarting). */
  private readForSync(since: StreamPosition, policy: HistoryPolicy, attempt: number): void {
    this.hooks.read(this.channel, since, policy).then(
      (page) => this.finishSync(since, page),
      (err: unknown) => {
        if (attempt >= SYNC_READ_ATTEMPTS || !this.hooks.isCurrent(this)) {
          this.hooks.logger.warn(
            { err, channel: this.channel },
            "history read failed while repairing a channel; asking subscribers to resubscribe",
          );
          this.finishSync(since, undefined);
          return;
        }
        const delayMs = Math.min(2_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
        setTimeout(() => this.readForSync(since, policy, attempt + 1), delayMs).unref();
      },
    );
  }

  private finishSync(since: StreamPosition, page: HistoryPage | undefined): void {
    const sync = this.sync;
    this.sync = undefined;
    if (sync === undefined || !this.hooks.isCurrent(this)) return;
    const recovered = page === undefined ? undefined : recoverSince(since, page);
    this.hooks.repaired(page === undefined || recovered === undefined ? "resubscribe" : "repaired");
    if (page === undefined || recovered === undefined) {
      for (const sub of sync.group) sub.resubscribeRequired(this.channel);
      if (page !== undefined) this.adopt(page.position);
      this.promoteCaughtUp();
      return;
    }
    // Read from history, they may lack the epoch a stream's event ids carry: it is the page's.
    const epoch = page.position.epoch;
    const stamped = recovered.map((pub) => (pub.epoch === undefined ? { ...pub, epoch } : pub));
    for (const pending of this.pending.values()) pending.buffer.push(...stamped);
    const next = contiguousAfter(since.offset, [...stamped, ...sync.buffer]);
    for (const pub of next) this.fanOut(sync.group, pub);
    for (const sub of sync.group) this.live.add(sub);
    this.lastOffset = next.at(-1)?.offset ?? since.offset;
    const leftover = sync.buffer.filter((pub) => (pub.offset ?? 0) > (this.lastOffset ?? 0));
    if (leftover.length > 0) this.startSync("gap after repair", leftover);
    this.promoteCaughtUp();
  }

  /** History restarted (flushed store, expired stream): nobody's position is meaningful any more. */
  private restartEpoch(position: StreamPosition, reason: string): void {
    this.hooks.logger.warn(
      { channel: this.channel, reason, from: this.epoch, to: position.epoch },
      "channel history restarted",
    );
    for (const sub of [...this.live]) sub.resubscribeRequired(this.channel);
    for (const [sub, pending] of [...this.pending]) {
      if (pending.top !== undefined && pending.top.epoch !== position.epoch) sub.resubscribeRequired(this.channel);
    }
    this.adopt(position);
  }

  private adopt(position: StreamPosition): void {
    this.deltas.restart();
    this.lastOffset = position.offset;
    this.epoch = position.epoch;
  }

  /** Makes live every pending subscriber whose reply is out and whose read the Hub has reached. */
  private promoteCaughtUp(): void {
    if (this.sync !== undefined || this.lastOffset === undefined) return;
    for (const [sub, pending] of this.pending) {
      if (pending.top === undefined || pending.top.offset > this.lastOffset) continue;
      this.pending.delete(sub);
      const missing = contiguousAfter(pending.top.offset, pending.buffer).filter(
        (pub) => (pub.offset ?? 0) <= (this.lastOffset ?? 0),
      );
      if ((missing.at(-1)?.offset ?? pending.top.offset) !== this.lastOffset) {
        sub.resubscribeRequired(this.channel); // cannot happen unless the broker reorders
        continue;
      }
      for (const pub of missing) this.fanOut([sub], pub);
      this.goLive(sub, pending);
    }
  }

  /** Broker delivery lags behind a subscriber's history read; if it does not catch up soon, re-read. */
  private scheduleCatchUp(): void {
    if (this.catchUpTimer !== undefined) return;
    this.catchUpTimer = setTimeout(() => {
      this.catchUpTimer = undefined;
      const behind = [...this.pending.values()].some(
        (p) => p.top !== undefined && p.top.offset > (this.lastOffset ?? 0),
      );
      if (behind && this.sync === undefined) this.startSync("broker delivery behind history", []);
    }, CATCH_UP_WAIT_MS);
    this.catchUpTimer.unref();
  }
}

/** The run of publications with offsets after+1, after+2, … found in `pubs`, in order, without duplicates. */
export function contiguousAfter(after: number, pubs: readonly RawPublication[]): RawPublication[] {
  const byOffset = new Map<number, RawPublication>();
  for (const pub of pubs) if (pub.offset !== undefined && pub.offset > after) byOffset.set(pub.offset, pub);
  const run: RawPublication[] = [];
  for (let offset = after + 1; byOffset.has(offset); offset++) run.push(byOffset.get(offset) as RawPublication);
  return run;
}
