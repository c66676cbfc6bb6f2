import type { ClientInfo, Codec, Push, RawPublication } from "@hubcast/protocol";
import type { Logger } from "pino";
import type { Broker } from "./broker/broker.js";
import { buildFrame } from "./transport/frame.js";

/** What the Hub needs of a connection: its codec and a way to write a ready frame. */
export interface Subscriber {
  readonly codec: Codec;
  /** Writes a complete WebSocket frame; never throws. */
  writeFrame(frame: Buffer): void;
}

interface ChannelEntry {
  readonly live: Set<Subscriber>;
  /** Subscribers between "subscribe asked" and "reply sent": publications wait here. */
  readonly pending: Map<Subscriber, RawPublication[]>;
  /** Settles when the broker subscription for this entry is in place. */
  readonly brokerSubscribed: Promise<void>;
}

/**
 * Channel → local subscribers, and fan-out: each publication is encoded once per codec in
 * use and framed once, then the same bytes are written to every live subscriber. Tells the
 * broker to subscribe when a channel's first local subscriber arrives and to unsubscribe
 * when its last leaves; operations on one channel's broker subscription run in order.
 */
export class Hub {
  private readonly channels = new Map<string, ChannelEntry>();
  /** The tail of each channel's chain of broker subscribe/unsubscribe calls. */
  private readonly brokerOps = new Map<string, Promise<void>>();
  private liveCount = 0;

  constructor(
    private readonly broker: Broker,
    private readonly logger: Logger,
  ) {}

  /** Channels with at least one local subscriber (live or pending). */
  get channelCount(): number {
    return this.channels.size;
  }

  /** Live subscriptions on this node. */
  get subscriptionCount(): number {
    return this.liveCount;
  }

  /**
   * Starts a subscription: publications are buffered for `sub` until {@link promote}.
   * Resolves once the broker delivers the channel to this node; rejects if it cannot.
   */
  addPending(channel: string, sub: Subscriber): Promise<void> {
    let entry = this.channels.get(channel);
    if (entry === undefined) {
      const brokerSubscribed = this.chainBrokerOp(channel, () => this.broker.subscribe([channel]));
      entry = { live: new Set(), pending: new Map(), brokerSubscribed };
      this.channels.set(channel, entry);
    }
    entry.pending.set(sub, []);
    return entry.brokerSubscribed;
  }

  /**
   * Makes a pending subscription live and returns what arrived while it was pending, in
   * arrival order; `undefined` when it was removed meanwhile.
   */
  promote(channel: string, sub: Subscriber): RawPublication[] | undefined {
    const entry = this.channels.get(channel);
    const buffered = entry?.pending.get(sub);
    if (entry === undefined || buffered === undefined) return undefined;
    entry.pending.delete(sub);
    entry.live.add(sub);
    this.liveCount += 1;
    return buffered;
  }

  /** Ends a live or pending subscription; the last one out unsubscribes the broker. */
  remove(channel: string, sub: Subscriber): void {
    const entry = this.channels.get(channel);
    if (entry === undefined) return;
    if (entry.live.delete(sub)) this.liveCount -= 1;
    entry.pending.delete(sub);
    if (entry.live.size > 0 || entry.pending.size > 0) return;
    this.channels.delete(channel);
    this.chainBrokerOp(channel, () => this.broker.unsubscribe([channel])).catch((err: unknown) => {
      this.logger.warn({ err, channel }, "broker unsubscribe failed");
    });
  }

  /** Fan-out of one publication from the broker. */
  deliverPublication(pub: RawPublication): void {
    const entry = this.channels.get(pub.channel);
    if (entry === undefined) return;
    for (const buffer of entry.pending.values()) buffer.push(pub);
    this.writeToLive(entry, (codec) => codec.encodePublication(pub));
  }

  deliverJoinLeave(type: "join" | "leave", channel: string, info: ClientInfo): void {
    const entry = this.channels.get(channel);
    if (entry === undefined) return;
    const push: Push = { type, body: { channel, info } };
    this.writeToLive(entry, (codec) => codec.encodePush(push));
  }

  private writeToLive(entry: ChannelEntry, encode: (codec: Codec) => Uint8Array): void {
    // One frame per codec in use, reused for every subscriber of that codec.
    let codec: Codec | undefined;
    let frame: Buffer | undefined;
    let others: Map<Codec, Buffer> | undefined;
    for (const sub of entry.live) {
      if (sub.codec !== codec) {
        if (codec !== undefined && frame !== undefined) (others ??= new Map()).set(codec, frame);
        codec = sub.codec;
        frame = others?.get(codec) ?? buildFrame(encode(codec), codec.binary);
      }
      sub.writeFrame(frame as Buffer);
    }
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
