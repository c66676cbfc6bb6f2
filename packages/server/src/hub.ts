import type { ClientInfo, MembersPush, Push, RawPublication, StreamPosition } from "@hubcast/protocol";
import type { Logger } from "pino";
import type { Broker, HistoryPolicy } from "./broker/broker.js";
import { ChannelEntry } from "./channel-entry.js";
import type { HistoryPage } from "./history/history.js";
import type { SentCounter, Subscriber } from "./fanout.js";
import { NOT_COUNTED, writeFanout } from "./fanout.js";

/** What the Hub needs to repair a channel: its history policy and a way to read it. */
export interface HubHistory {
  /** The channel's history policy, or `undefined` when it keeps none. */
  policyFor(channel: string): HistoryPolicy | undefined;
  read(channel: string, since: StreamPosition, policy: HistoryPolicy): Promise<HistoryPage>;
}

/** What the Hub counts (the node's Metrics): fan-out once per frame, channel repairs, and deltas. */
export interface HubMetrics {
  readonly fanout: Readonly<Record<"publication" | "members" | "join" | "leave", SentCounter>>;
  channelRepair(result: "repaired" | "resubscribe"): void;
  /** A publication went as a delta to `deliveries` subscribers, each `savedBytes` of data fewer than in full. */
  deltaDelivered(deliveries: number, savedBytes: number): void;
}

/**
 * Which connection a fan-out must skip: a protocol whose sender never receives its own event
 * (Pusher's client events and `socket_id`), and whose joiner is not told it joined.
 */
export interface FanoutExclusions {
  publication(pub: RawPublication): string | undefined;
  joinLeave(channel: string, info: ClientInfo): string | undefined;
}

/** Skips nobody: Hubcast's own protocol echoes a publication to its publisher. */
export const NO_EXCLUSIONS: FanoutExclusions = {
  publication: () => undefined,
  joinLeave: () => undefined,
};

/** Counts nothing: for Hubs built without metrics (unit tests). */
const NO_METRICS: HubMetrics = {
  fanout: { publication: NOT_COUNTED, members: NOT_COUNTED, join: NOT_COUNTED, leave: NOT_COUNTED },
  channelRepair: () => undefined,
  deltaDelivered: () => undefined,
};

/**
 * Channel → local subscribers, and fan-out: each publication is encoded once per codec in
 * use and framed once, then the same bytes are written to every live subscriber.
 *
 * Every live subscriber of a channel with history has received exactly the publications up
 * to the channel entry's `lastOffset`. A gap in offsets (a publication the broker lost, a
 * broker reconnect) makes the Hub re-read history and deliver what is missing, in order;
 * if history cannot cover it, the subscribers are told to resubscribe.
 *
 * The broker is told to subscribe when a channel's first local subscriber arrives and to
 * unsubscribe when its last leaves; operations on one channel run in order.
 */
export class Hub {
  private readonly channels = new Map<string, ChannelEntry>();
  /** The tail of each channel's chain of broker subscribe/unsubscribe calls. */
  private readonly brokerOps = new Map<string, Promise<void>>();
  /** Publications delivered to channels with local subscribers, since the Hub started. */
  private received = 0;

  private readonly logger: Logger;
  private readonly metrics: HubMetrics;
  private readonly exclusions: FanoutExclusions;

  /** `metrics` undefined: nothing is counted; `exclusions` undefined: nobody is skipped. */
  constructor(
    private readonly broker: Broker,
    private readonly history: HubHistory,
    services: { logger: Logger; metrics?: HubMetrics; exclusions?: FanoutExclusions },
  ) {
    this.logger = services.logger;
    this.metrics = services.metrics ?? NO_METRICS;
    this.exclusions = services.exclusions ?? NO_EXCLUSIONS;
  }

  /** Channels with at least one local subscriber (live or pending). */
  get channelCount(): number {
    return this.channels.size;
  }

  /** Live subscriptions on this node. */
  get subscriptionCount(): number {
    let count = 0;
    for (const entry of this.channels.values()) count += entry.liveCount;
    return count;
  }

  /** Live subscribers of `channel` on this node. */
  liveCount(channel: string): number {
    return this.channels.get(channel)?.liveCount ?? 0;
  }

  /** Local channels with their live subscriber counts. */
  channelStats(): Map<string, number> {
    const stats = new Map<string, number>();
    for (const [channel, entry] of this.channels) stats.set(channel, entry.liveCount);
    return stats;
  }

  /** Publications the broker delivered to channels with local subscribers since the node started: one each, whatever their fan-out. */
  get publicationsReceived(): number {
    return this.received;
  }

  /** Updates every local channel's publication rate with what arrived in the last `elapsedMs`; call once per sampling period. */
  sampleRates(elapsedMs: number): void {
    for (const entry of this.channels.values()) entry.sampleRate(elapsedMs);
  }

  /** Local channels with their live subscriber counts and publication rates (per second, smoothed). */
  *channelSummaries(): IterableIterator<{ name: string; subscribers: number; publicationsPerSecond: number }> {
    for (const [name, entry] of this.channels)
      yield { name, subscribers: entry.liveCount, publicationsPerSecond: entry.publicationRate };
  }

  /**
   * Starts a subscription: publications are buffered for `sub` until {@link promote}.
   * Resolves once the broker delivers the channel to this node; rejects if it cannot.
   * `delta`: once live, `sub` gets each publication after its first as a fossil delta against
   * the previous one, when that is smaller (the channel entry computes it once for everyone).
   */
  addPending(channel: string, sub: Subscriber, options: { delta?: boolean } = {}): Promise<void> {
    let entry = this.channels.get(channel);
    if (entry === undefined) {
      const brokerSubscribed = this.chainBrokerOp(channel, () => this.broker.subscribe([channel]));
      entry = new ChannelEntry(channel, brokerSubscribed, this.entryHooks());
      this.channels.set(channel, entry);
    }
    entry.addPending(sub, options.delta ?? false);
    return entry.brokerSubscribed;
  }

  /**
   * Makes a pending subscription live once its subscribe reply has been written. `top` is the
   * position its history read returned (`undefined` without history). Publications after
   * `top` follow at once or, if broker delivery lags behind the read, as soon as it catches up.
   * Returns false when the subscription was removed meanwhile.
   */
  promote(channel: string, sub: Subscriber, top: StreamPosition | undefined): boolean {
    return this.channels.get(channel)?.promote(sub, top) ?? false;
  }

  /** Ends a live or pending subscription; the last one out unsubscribes the broker. */
  remove(channel: string, sub: Subscriber): void {
    const entry = this.channels.get(channel);
    if (entry === undefined || !entry.remove(sub) || !entry.isEmpty) return;
    entry.dispose();
    this.channels.delete(channel);
    this.chainBrokerOp(channel, () => this.broker.unsubscribe([channel])).catch((err: unknown) => {
      this.logger.warn({ err, channel }, "broker unsubscribe failed");
    });
  }

  /** Fan-out of one publication from the broker. */
  deliverPublication(pub: RawPublication): void {
    const entry = this.channels.get(pub.channel);
    if (entry === undefined) return;
    this.received += 1;
    entry.deliver(pub);
  }

  /**
   * Fan-out of one period's joins and leaves of a channel: the same frame for every live
   * subscriber, encoded once per codec. It skips nobody (a joiner finds itself listed).
   */
  deliverMembers(body: MembersPush): void {
    const entry = this.channels.get(body.channel);
    if (entry === undefined) return;
    const push: Push = { type: "members", body };
    writeFanout({
      subscribers: entry.liveSubscribers(),
      encode: (codec) => codec.encodePush(push),
      sent: this.metrics.fanout.members,
    });
  }

  /** Fan-out of one join or leave at once, skipping whom the exclusions name (Pusher's joiner). */
  deliverJoinLeave(type: "join" | "leave", channel: string, info: ClientInfo): void {
    const entry = this.channels.get(channel);
    if (entry === undefined) return;
    const push: Push = { type, body: { channel, info } };
    const except = this.exclusions.joinLeave(channel, info);
    writeFanout({
      subscribers: entry.liveSubscribers(),
      encode: (codec) => codec.encodePush(push),
      sent: this.metrics.fanout[type],
      except,
    });
  }

  /** The broker may have lost publications (it reconnected): re-read history for every channel. */
  resyncAll(): void {
    for (const entry of this.channels.values()) entry.resync("broker reconnected");
  }

  private entryHooks(): ConstructorParameters<typeof ChannelEntry>[2] {
    return {
      policyFor: (channel) => this.history.policyFor(channel),
      read: (channel, since, policy) => this.history.read(channel, since, policy),
      isCurrent: (entry) => this.channels.get(entry.channel) === entry,
      logger: this.logger,
      sent: this.metrics.fanout.publication,
      repaired: (result) => this.metrics.channelRepair(result),
      deltaDelivered: (deliveries, savedBytes) => this.metrics.deltaDelivered(deliveries, savedBytes),
      exceptOf: (pub) => this.exclusions.publication(pub),
    };
  }

  private chainBrokerOp(channel: string, op: () => Promise<void>): Promise<void> {
    const previous = this.brokerOps.get(channel) ?? Promise.resolve();
    // Run after the previous op whatever its outcome: its own caller already handled its error.
    const next = previous.then(op, op);
    this.brokerOps.set(channel, next);
    const forget = (): void => {
      if (this.brokerOps.get(channel) === next) this.brokerOps.delete(channel);
    };
    next.then(forget, forget);
    return next;
  }
}
