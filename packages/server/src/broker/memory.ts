import type { ClientInfo, RawPublication, StreamPosition } from "@hubcast/protocol";
import type { MemoryStreams } from "../history/memory-streams.js";
import type { Broker, BrokerHandlers, HistoryPolicy, PublishOptions } from "./broker.js";
import { IdempotencyKeys } from "./idempotency.js";
import { refuseExpired } from "./publish-deadline.js";

/** The embedded broker: one process, delivery in the publishing call, history in memory. */
export class MemoryBroker implements Broker {
  private handlers: BrokerHandlers | undefined;
  private readonly subscribed = new Set<string>();

  private readonly idempotency: IdempotencyKeys;
  private readonly now: () => number;

  /** `idempotency` remembers publish keys (default: a 300 s window); `now` is the clock deadlines are checked by. */
  constructor(
    private readonly streams: MemoryStreams,
    options: { idempotency?: IdempotencyKeys; now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.idempotency = options.idempotency ?? new IdempotencyKeys(300_000, this.now);
  }

  start(handlers: BrokerHandlers): Promise<void> {
    this.handlers = handlers;
    return Promise.resolve();
  }

  subscribe(channels: readonly string[]): Promise<void> {
    for (const channel of channels) this.subscribed.add(channel);
    return Promise.resolve();
  }

  unsubscribe(channels: readonly string[]): Promise<void> {
    for (const channel of channels) this.subscribed.delete(channel);
    return Promise.resolve();
  }

  publish(
    pub: Omit<RawPublication, "offset">,
    history: HistoryPolicy,
    options?: PublishOptions,
  ): Promise<StreamPosition | undefined> {
    try {
      refuseExpired(options, this.now());
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const key = options?.idempotencyKey;
    if (key !== undefined) {
      const seen = this.idempotency.lookup(pub.channel, key);
      if (seen !== "none") return Promise.resolve(seen.position);
    }
    const position = history.size > 0 ? this.streams.append(pub, history) : undefined;
    if (this.handlers !== undefined && this.subscribed.has(pub.channel)) {
      this.handlers.publication(
        position === undefined ? pub : { ...pub, offset: position.offset, epoch: position.epoch },
      );
    }
    if (key !== undefined) this.idempotency.record(pub.channel, key, position);
    return Promise.resolve(position);
  }

  publishJoin(channel: string, info: ClientInfo): Promise<void> {
    if (this.subscribed.has(channel)) this.handlers?.join(channel, info);
    return Promise.resolve();
  }

  publishLeave(channel: string, info: ClientInfo): Promise<void> {
    if (this.subscribed.has(channel)) this.handlers?.leave(channel, info);
    return Promise.resolve();
  }

  publishControl(message: Uint8Array): Promise<void> {
    // Asynchronously, as from a real broker: the sender's own handler must not run inside its call.
    queueMicrotask(() => this.handlers?.control(message));
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.handlers = undefined;
    this.subscribed.clear();
    return Promise.resolve();
  }
}
