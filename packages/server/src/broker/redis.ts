import type { ClientInfo, RawPublication, StreamPosition } from "@hubcast/protocol";
import type { RedisConnection, RedisKeys } from "@hubcast/emitter";
import {
  PublishDeadlineError,
  decodeBrokerMessage,
  encodeJoinLeave,
  publishNotMade,
  publishThroughRedis,
} from "@hubcast/emitter";
import type { Logger } from "pino";
import { Batcher } from "./batcher.js";
import { PublishExpiredError } from "./broker.js";
import type { Broker, BrokerHandlers, HistoryPolicy, PublishOptions } from "./broker.js";
import { refuseExpired, withinDeadline } from "./publish-deadline.js";

/** Called with each message and the pub/sub channel it came on. */
export type PubSubListener = (message: Buffer, pubsubName: Buffer) => void;

/** The pub/sub side: a dedicated subscriber connection (`LiveSubscriber`), or the cluster client's sharded pub/sub (`LiveClusterPubSub`). */
export interface PubSubConnection {
  subscribe(names: string[], listener: PubSubListener): Promise<void>;
  unsubscribe(names: string[]): Promise<void>;
  subscribeControl(name: string, listener: PubSubListener): Promise<void>;
  isReady(): boolean;
  /** Calls `handler` on every reconnect after the first connect, once subscriptions are back. */
  onReconnected(handler: () => void): void;
  close(): Promise<void>;
}

/**
 * Fan-out through Redis pub/sub (sharded on a cluster). Publications with history go through
 * one Lua script that appends to the channel's stream and publishes, so offsets are gap-free
 * and identical on every node. Subscribe bursts in one tick go out as one command.
 */
export class RedisBroker implements Broker {
  private handlers: BrokerHandlers | undefined;
  private readonly listener: PubSubListener = (message, name) => this.onMessage(message, name);
  private readonly subscribes = new Batcher<string>((names) => this.pubsub.subscribe(names, this.listener));
  private readonly unsubscribes = new Batcher<string>((names) => this.pubsub.unsubscribe(names));

  constructor(
    private readonly redis: RedisConnection,
    private readonly pubsub: PubSubConnection,
    private readonly keys: RedisKeys,
    private readonly logger: Logger,
    private readonly idempotencyWindowMs: number = 300_000,
  ) {}

  async start(handlers: BrokerHandlers): Promise<void> {
    this.handlers = handlers;
    await this.pubsub.subscribeControl(this.keys.control(), (message) => this.handlers?.control(message));
    this.pubsub.onReconnected(() => {
      this.logger.warn("redis pub/sub reconnected; re-reading history for every channel");
      this.handlers?.resync();
    });
  }

  subscribe(channels: readonly string[]): Promise<void> {
    if (!this.pubsub.isReady()) return Promise.reject(new Error("redis pub/sub connection is down"));
    return this.subscribes.add(channels.map((channel) => this.keys.pubsub(channel)));
  }

  unsubscribe(channels: readonly string[]): Promise<void> {
    return this.unsubscribes.add(channels.map((channel) => this.keys.pubsub(channel)));
  }

  /**
   * The deadline is checked by the script against Redis's clock; a command still unanswered
   * at the deadline, or lost with its connection, is reported as outcome unknown.
   */
  async publish(
    pub: Omit<RawPublication, "offset">,
    history: HistoryPolicy,
    options?: PublishOptions,
  ): Promise<StreamPosition | undefined> {
    refuseExpired(options, Date.now()); // late already: sending it could only be refused
    const call = publishThroughRedis(this.redis, this.keys, pub, history, {
      ...options,
      windowMs: this.idempotencyWindowMs,
    }).catch((err: unknown) => {
      throw err instanceof PublishDeadlineError ? new PublishExpiredError(err.message, { cause: err }) : err;
    });
    return withinDeadline(call, options, publishNotMade);
  }

  publishJoin(channel: string, info: ClientInfo): Promise<void> {
    return this.publishRaw(channel, encodeJoinLeave("join", info));
  }

  publishLeave(channel: string, info: ClientInfo): Promise<void> {
    return this.publishRaw(channel, encodeJoinLeave("leave", info));
  }

  async publishControl(message: Uint8Array): Promise<void> {
    await this.redis.send(undefined, ["PUBLISH", this.keys.control(), Buffer.from(message)]);
  }

  async close(): Promise<void> {
    this.handlers = undefined;
    await this.pubsub.close();
  }

  private async publishRaw(channel: string, message: Buffer): Promise<void> {
    const name = this.keys.pubsub(channel);
    await this.redis.send(name, [this.redis.cluster ? "SPUBLISH" : "PUBLISH", name, message]);
  }

  private onMessage(message: Buffer, name: Buffer): void {
    const channel = this.keys.channelOf(name.toString());
    const decoded = channel === undefined ? undefined : decodeBrokerMessage(channel, message);
    if (decoded === undefined || this.handlers === undefined) {
      this.logger.warn({ channel: name.toString() }, "unreadable message on a hubcast pub/sub channel");
      return;
    }
    try {
      if (decoded.type === "publication") this.handlers.publication(decoded.pub);
      else this.handlers[decoded.type](decoded.channel, decoded.info);
    } catch (err) {
      // Never let a delivery failure escape into the Redis client: it would break the connection.
      this.logger.error({ err, channel }, "delivering a message from redis failed");
    }
  }
}
