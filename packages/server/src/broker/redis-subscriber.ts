import type { RedisClient } from "@hubcast/emitter";
import { closeWithin, reconnectDelayMs } from "@hubcast/emitter";
import type { Logger } from "pino";
import { LinkPinger, redisPing, resolveLiveness, within } from "./link-liveness.js";
import type { LivenessOptions } from "./link-liveness.js";
import type { PubSubConnection, PubSubListener } from "./redis.js";

/** Most channels in one SUBSCRIBE command when a burst is batched. */
const SUBSCRIBE_BATCH = 1_000;

/**
 * Pub/sub on one Redis server over a connection of its own that watches its own liveness. A
 * connection in subscribe mode sends nothing when no channel has traffic, so a blackholed link
 * looks healthy to the Redis client forever; a PING (answered even in subscribe mode) every
 * `pingIntervalMs` tells. A PING unanswered within `pongTimeoutMs` declares the link dead: it is
 * logged once, `isReady()` turns false, the connection is destroyed and replaced by a fresh one
 * (with backoff until one answers), every subscription is made again, and the reconnect
 * handlers run so the broker re-reads history. Resets the Redis client notices (Redis restarted)
 * are still handled by the client's own reconnect.
 */
export class LiveSubscriber implements PubSubConnection {
  private client: RedisClient;
  /** A replacement still connecting; close() must not leave it behind. */
  private pending: RedisClient | undefined;
  private readonly names = new Set<string>();
  private listener: PubSubListener | undefined;
  private control: { name: string; listener: PubSubListener } | undefined;
  private readonly reconnectHandlers: (() => void)[] = [];
  private readonly pingTimer: NodeJS.Timeout;
  private readonly pongTimeoutMs: number;
  private readonly pinger: LinkPinger<RedisClient>;
  /** False from a missed pong until a replacement connection holds every subscription again. */
  private alive = true;
  private closed = false;

  /**
   * `client` is connected; `create` makes an unconnected replacement (a `duplicate()` of the
   * command client) with its error listener attached.
   */
  constructor(
    client: RedisClient,
    private readonly create: () => RedisClient,
    private readonly logger: Logger,
    private readonly liveness: LivenessOptions = {},
  ) {
    const { pingIntervalMs, pongTimeoutMs } = resolveLiveness(liveness);
    this.pongTimeoutMs = pongTimeoutMs;
    this.pinger = new LinkPinger({
      timeoutMs: pongTimeoutMs,
      what: "redis pub/sub PING",
      handlers: {
        onSilent: (silent) => {
          if (silent === this.client) this.declareDead();
        },
      },
    });
    this.client = client;
    this.watchReconnects(client);
    this.pingTimer = setInterval(() => this.ping(), pingIntervalMs);
    this.pingTimer.unref();
  }

  async subscribe(names: string[], listener: PubSubListener): Promise<void> {
    this.listener = listener;
    for (let i = 0; i < names.length; i += SUBSCRIBE_BATCH) {
      const batch = names.slice(i, i + SUBSCRIBE_BATCH);
      await this.client.subscribe(batch, listener, true);
      for (const name of batch) this.names.add(name);
    }
  }

  async unsubscribe(names: string[]): Promise<void> {
    for (const name of names) this.names.delete(name);
    // A replacement in progress subscribes from `names`; the dead connection needs no UNSUBSCRIBE.
    if (!this.alive) return;
    for (let i = 0; i < names.length; i += SUBSCRIBE_BATCH)
      await this.client.unsubscribe(names.slice(i, i + SUBSCRIBE_BATCH));
  }

  async subscribeControl(name: string, listener: PubSubListener): Promise<void> {
    this.control = { name, listener };
    await this.client.subscribe(name, listener, true);
  }

  isReady(): boolean {
    return this.alive && this.client.isReady;
  }

  onReconnected(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pingTimer);
    this.pending?.destroy();
    if (this.client.isOpen) await closeWithin(this.client);
  }

  /** Runs the handlers on every `ready` of `client` after its first: the client reconnected by itself. */
  private watchReconnects(client: RedisClient): void {
    let connected = client.isReady;
    client.on("ready", () => {
      if (connected && client === this.client && this.alive) this.reconnected();
      connected = true;
    });
  }

  private reconnected(): void {
    for (const handler of this.reconnectHandlers) handler();
  }

  private ping(): void {
    // A link the client already knows is down is the client's to reconnect; a ping would only fail.
    if (this.closed || !this.alive || !this.client.isReady) return;
    const client = this.client;
    this.pinger.ping(client, () => redisPing(client));
  }

  private declareDead(): void {
    if (this.closed || !this.alive) return;
    this.alive = false;
    const deadAt = Date.now();
    this.logger.error(
      { silentMs: this.pongTimeoutMs, channels: this.names.size },
      "redis pub/sub link silent: PING unanswered; not ready, replacing the connection",
    );
    this.liveness.onDead?.();
    this.client.destroy();
    void this.replace(deadAt);
  }

  /** Connects fresh clients (with backoff) until one holds every subscription; then reports a reconnect. */
  private async replace(deadAt: number): Promise<void> {
    for (let attempt = 0; !this.closed; attempt += 1) {
      const client = this.create();
      this.pending = client;
      try {
        await within(client.connect(), this.pongTimeoutMs * 2, "redis pub/sub reconnect");
        await within(this.resubscribe(client), this.pongTimeoutMs * 2, "redis pub/sub resubscribe");
      } catch (err) {
        this.pending = undefined;
        client.destroy();
        this.logger.debug({ err, attempt }, "replacing the redis pub/sub connection failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, Math.max(100, reconnectDelayMs(attempt))));
        continue;
      }
      this.pending = undefined;
      if (this.closed) {
        client.destroy();
        return;
      }
      this.client = client;
      this.watchReconnects(client);
      this.alive = true;
      this.logger.warn(
        { downMs: Date.now() - deadAt, channels: this.names.size },
        "redis pub/sub link replaced by a new connection",
      );
      this.reconnected();
      return;
    }
  }

  private async resubscribe(client: RedisClient): Promise<void> {
    if (this.control !== undefined) await client.subscribe(this.control.name, this.control.listener, true);
    const listener = this.listener;
    if (listener === undefined) return;
    const names = [...this.names];
    for (let i = 0; i < names.length; i += SUBSCRIBE_BATCH)
      await client.subscribe(names.slice(i, i + SUBSCRIBE_BATCH), listener, true);
  }
}
