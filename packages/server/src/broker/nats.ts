import type { ClientInfo, RawPublication, StreamPosition } from "@hubcast/protocol";
import type { KV } from "@nats-io/kv";
import { JetStreamApiError } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { NatsNames } from "../engine/nats-names.js";
import { HEADER, channelToken } from "../engine/nats-names.js";
import type { NatsChannelLog } from "../history/nats-log.js";
import { publicationOf } from "../history/nats-log.js";
import { Batcher } from "./batcher.js";
import type { Broker, BrokerHandlers, HistoryPolicy, PublishOptions } from "./broker.js";
import { PublishExpiredError } from "./broker.js";

/** What a key that was already used looks like to `KV.create`. */
const WRONG_LAST_SEQUENCE = 10071;

/**
 * Fan-out on NATS. Publications with history are appended to the channel's subject of the
 * history stream, which republishes each stored message, in stream order, to the channel's
 * live subject; a publication the stream refused (lost a race for its offset) is never seen.
 * Each node holds one core subscription per channel it serves, so it hears only those.
 * Publications without history, joins and leaves go straight to the live subject.
 */
export class NatsBroker implements Broker {
  private handlers: BrokerHandlers | undefined;
  private readonly subscriptions = new Map<string, Subscription>();
  private control: Subscription | undefined;
  /** One round trip confirms every subscription made in the same tick (a reconnect storm, a page of channels). */
  private readonly flushes = new Batcher<string>(() => this.nc.flush());

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: NatsChannelLog,
    private readonly names: NatsNames,
    /** Keys of publications without history, kept for the idempotency window. */
    private readonly dedupe: KV,
    private readonly logger: Logger,
    /** False while the connection is down: then subscribes and core publishes fail at once instead of waiting for it. */
    private readonly connected: () => boolean = () => true,
  ) {}

  async start(handlers: BrokerHandlers): Promise<void> {
    this.handlers = handlers;
    this.control = this.nc.subscribe(this.names.control, { callback: (err, msg) => this.onControl(err, msg) });
    await this.nc.flush();
  }

  /** Resynchronises every channel after the connection came back: core NATS drops what it could not deliver. */
  reconnected(): void {
    this.logger.warn("nats connection reconnected; re-reading history for every channel");
    this.handlers?.resync();
  }

  async subscribe(channels: readonly string[]): Promise<void> {
    this.checkConnected();
    for (const channel of channels) {
      if (this.subscriptions.has(channel)) continue;
      const sub = this.nc.subscribe(this.names.live(channel), {
        callback: (err, msg) => this.onLive(channel, err, msg),
      });
      this.subscriptions.set(channel, sub);
    }
    await this.flushes.add(channels); // the server has the subscriptions once it answered the ping
  }

  async unsubscribe(channels: readonly string[]): Promise<void> {
    for (const channel of channels) {
      this.subscriptions.get(channel)?.unsubscribe();
      this.subscriptions.delete(channel);
    }
    if (!this.nc.isClosed()) await this.flushes.add(channels);
  }

  async publish(
    pub: Omit<RawPublication, "offset">,
    history: HistoryPolicy,
    options: PublishOptions = {},
  ): Promise<StreamPosition | undefined> {
    if (history.size > 0) return this.log.append(pub, history, options);
    if (options.deadline !== undefined && Date.now() >= options.deadline)
      throw new PublishExpiredError(`publish to ${pub.channel} reached its deadline before it was made`);
    this.checkConnected();
    if (options.idempotencyKey !== undefined && !(await this.firstUse(pub.channel, options.idempotencyKey)))
      return undefined;
    const h = headers();
    if (pub.info !== undefined) h.set(HEADER.info, JSON.stringify(pub.info));
    this.nc.publish(this.names.live(pub.channel), pub.data, { headers: h });
    await this.nc.flush();
    return undefined;
  }

  publishJoin(channel: string, info: ClientInfo): Promise<void> {
    return this.publishPresence(channel, "join", info);
  }

  publishLeave(channel: string, info: ClientInfo): Promise<void> {
    return this.publishPresence(channel, "leave", info);
  }

  async publishControl(message: Uint8Array): Promise<void> {
    this.checkConnected();
    this.nc.publish(this.names.control, message);
    await this.nc.flush();
  }

  async close(): Promise<void> {
    this.handlers = undefined;
    if (this.nc.isClosed()) return;
    for (const sub of this.subscriptions.values()) sub.unsubscribe();
    this.subscriptions.clear();
    this.control?.unsubscribe();
  }

  private checkConnected(): void {
    if (this.nc.isClosed() || !this.connected()) throw new Error("nats connection is down");
  }

  /** True the first time a key is used in a channel within the window (a KV create succeeds once). */
  private async firstUse(channel: string, key: string): Promise<boolean> {
    try {
      await this.dedupe.create(
        `${channelToken(channel)}.${Buffer.from(key, "utf8").toString("base64url")}`,
        new Uint8Array(0),
      );
      return true;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) return false;
      throw err;
    }
  }

  private async publishPresence(channel: string, kind: "join" | "leave", info: ClientInfo): Promise<void> {
    this.checkConnected();
    const h = headers();
    h.set(HEADER.kind, kind);
    this.nc.publish(this.names.live(channel), JSON.stringify(info), { headers: h });
    await this.nc.flush();
  }

  private onControl(err: Error | null, msg: Msg): void {
    if (err !== null) {
      this.logger.warn({ err: err.message }, "nats control subscription error");
      return;
    }
    this.handlers?.control(msg.data);
  }

  private onLive(channel: string, err: Error | null, msg: Msg): void {
    const handlers = this.handlers;
    if (err !== null || handlers === undefined) {
      if (err !== null) this.logger.warn({ err: err.message, channel }, "nats channel subscription error");
      return;
    }
    try {
      const kind = msg.headers?.get(HEADER.kind) ?? "";
      if (kind === "marker") return;
      if (kind === "join" || kind === "leave") {
        handlers[kind](channel, JSON.parse(msg.string()) as ClientInfo);
        return;
      }
      const offset = msg.headers?.get(HEADER.offset) ?? "";
      const pub = publicationOf(channel, msg.data, msg.headers, Number(offset));
      if (pub.unreadable === true) throw new Error("publication info is not JSON");
      if (offset === "") delete pub.offset;
      else pub.epoch = msg.headers?.get(HEADER.epoch);
      handlers.publication(pub);
    } catch (err) {
      // Never let a delivery failure escape into the NATS client's dispatch loop.
      this.logger.error({ err, channel }, "delivering a message from nats failed");
    }
  }
}
