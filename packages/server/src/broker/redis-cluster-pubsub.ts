import type { RedisClusterClient } from "@hubcast/emitter";
import { reconnectDelayMs } from "@hubcast/emitter";
import type { Logger } from "pino";
import { clusterPubSubLinks, detachPubSubLink } from "./cluster-links.js";
import type { ClusterNodeClient, PubSubLinkKind } from "./cluster-links.js";
import { LinkPinger, redisPing, resolveLiveness, within } from "./link-liveness.js";
import type { LivenessOptions } from "./link-liveness.js";
import type { PubSubConnection, PubSubListener } from "./redis.js";

/** A pub/sub link declared dead, until a new connection holds what it carried. */
interface DeadLink {
  readonly kind: PubSubLinkKind;
  /** The shard's master (or the plain link's node), `host:port` as the cluster announces it. */
  readonly address: string;
  /** The sharded channels it carried; the plain link carries the control channel. */
  readonly channels: ReadonlySet<string>;
  readonly deadAt: number;
}

/**
 * Sharded pub/sub on a Redis Cluster (each channel on the shard that owns its keys) whose
 * per-shard connections watch their own liveness, as `LiveSubscriber` does on one server.
 * The cluster client opens one pub/sub connection per master with subscriptions, and one for
 * plain channels (the control channel); every `pingIntervalMs` each of them that its client
 * believes connected gets a PING. One unanswered within `pongTimeoutMs` is declared dead: it is
 * logged once, `onDead` runs, `isReady()` turns false, the connection is destroyed and the
 * cluster client opens a new one for that shard on which every channel it carried is subscribed
 * again (retrying with backoff). While any link is dead or reconnecting the connection is not
 * ready. The reconnect handlers run once when links come back (replaced, or reconnected by the
 * client itself after a reset), after every link is up again, so one outage of many shards asks
 * for one resync; a connection's first connect asks for none.
 */
export class LiveClusterPubSub implements PubSubConnection {
  private readonly names = new Set<string>();
  private listener: PubSubListener | undefined;
  private control: { name: string; listener: PubSubListener } | undefined;
  private readonly reconnectHandlers: (() => void)[] = [];
  private readonly dead = new Set<DeadLink>();
  /** Connections whose `ready` events are watched, to tell a reconnect from a first connect. */
  private readonly watched = new WeakSet<ClusterNodeClient>();
  /** A link came back: the handlers run as soon as every link is up. */
  private resyncOwed = false;
  private readonly pinger: LinkPinger<ClusterNodeClient>;
  private readonly pongTimeoutMs: number;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  /** `cluster` is connected; it stays the caller's to close. */
  constructor(
    private readonly cluster: RedisClusterClient,
    private readonly logger: Logger,
    private readonly liveness: LivenessOptions = {},
  ) {
    const { pingIntervalMs, pongTimeoutMs } = resolveLiveness(liveness);
    this.pongTimeoutMs = pongTimeoutMs;
    this.pinger = new LinkPinger({
      timeoutMs: pongTimeoutMs,
      what: "redis pub/sub PING",
      handlers: { onSilent: (client) => this.declareDead(client) },
    });
    this.timer = setInterval(() => this.sweep(), pingIntervalMs);
    this.timer.unref();
  }

  async subscribe(names: string[], listener: PubSubListener): Promise<void> {
    this.listener = listener;
    try {
      // Sharded subscribes route by their first channel, so each goes alone to its shard.
      await Promise.all(
        names.map(async (name) => {
          await this.cluster.sSubscribe(name, listener, true);
          this.names.add(name);
        }),
      );
    } finally {
      this.watchLinks(); // a shard's new connection is watched from its first connect on
    }
  }

  async unsubscribe(names: string[]): Promise<void> {
    const live: string[] = [];
    for (const name of names) {
      this.names.delete(name);
      // A replacement in progress subscribes from `names`; a dead connection needs no SUNSUBSCRIBE.
      if (!this.onDeadLink(name)) live.push(name);
    }
    await Promise.all(live.map((name) => this.cluster.sUnsubscribe(name)));
  }

  async subscribeControl(name: string, listener: PubSubListener): Promise<void> {
    this.control = { name, listener };
    try {
      await this.cluster.subscribe(name, listener, true);
    } finally {
      this.watchLinks();
    }
  }

  /** False while a link is dead, or reconnecting by itself (a shard link making its first connect does not count). */
  isReady(): boolean {
    if (this.closed || !this.cluster.isReady || this.dead.size > 0) return false;
    return clusterPubSubLinks(this.cluster).every((link) => link.connecting || link.client.isReady);
  }

  onReconnected(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  /** Stops the checks; the connections close with the cluster client. */
  close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    return Promise.resolve();
  }

  /** Pings every link its client believes connected, and runs the handlers a link's return owes. */
  private sweep(): void {
    if (this.closed) return;
    for (const link of clusterPubSubLinks(this.cluster)) {
      this.watch(link.client);
      // A link the client already knows is down is the client's to reconnect; a PING would only fail.
      if (!link.connecting && link.client.isReady) this.pinger.ping(link.client, () => redisPing(link.client));
    }
    this.settle();
  }

  private watchLinks(): void {
    for (const link of clusterPubSubLinks(this.cluster)) this.watch(link.client);
  }

  /** Every `ready` of `client` after it was once ready is a reconnect of the client's own (it resubscribed already). */
  private watch(client: ClusterNodeClient): void {
    if (this.watched.has(client)) return;
    this.watched.add(client);
    let wasReady = client.isReady;
    client.on("ready", () => {
      if (wasReady && !this.closed) {
        this.logger.warn("redis cluster pub/sub connection reconnected");
        this.linkBack();
      }
      wasReady = true;
    });
  }

  private linkBack(): void {
    this.resyncOwed = true;
    this.settle();
  }

  /** Runs the handlers once for every link that came back, as soon as all links are up. */
  private settle(): void {
    if (!this.resyncOwed || !this.isReady()) return;
    this.resyncOwed = false;
    for (const handler of this.reconnectHandlers) handler();
  }

  private onDeadLink(name: string): boolean {
    for (const dead of this.dead) if (dead.channels.has(name)) return true;
    return false;
  }

  private declareDead(client: ClusterNodeClient): void {
    if (this.closed) return;
    const link = clusterPubSubLinks(this.cluster).find((l) => l.client === client);
    if (link === undefined) return; // the cluster client let it go meanwhile (topology change, last unsubscribe)
    const carried = link.kind === "shard" ? [...client.getPubSubListeners("SHARDED").keys()] : [];
    const dead: DeadLink = {
      kind: link.kind,
      address: link.address,
      channels: new Set(carried.filter((name) => this.names.has(name))),
      deadAt: Date.now(),
    };
    this.dead.add(dead);
    detachPubSubLink(this.cluster, link);
    client.destroy();
    this.logger.error(
      { node: link.address, link: link.kind, silentMs: this.pongTimeoutMs, channels: dead.channels.size },
      "redis pub/sub link silent: PING unanswered on a cluster pub/sub connection; not ready, replacing the connection",
    );
    this.liveness.onDead?.();
    void this.replace(dead);
  }

  /** Subscribes what `dead` carried through new connections (with backoff until they answer); then reports the link back. */
  private async replace(dead: DeadLink): Promise<void> {
    for (let attempt = 0; !this.closed; attempt += 1) {
      const names = [...dead.channels].filter((name) => this.names.has(name));
      try {
        await within(this.resubscribe(dead.kind, names), this.pongTimeoutMs * 2, "redis cluster pub/sub resubscribe");
      } catch (err) {
        this.dropStalled(dead);
        this.logger.debug(
          { err, attempt, node: dead.address },
          "replacing a redis cluster pub/sub connection failed; retrying",
        );
        await new Promise((resolve) => setTimeout(resolve, Math.max(100, reconnectDelayMs(attempt))));
        continue;
      }
      if (this.closed) return;
      this.dead.delete(dead);
      this.unsubscribeLeft(names);
      this.watchLinks();
      this.logger.warn(
        { node: dead.address, link: dead.kind, downMs: Date.now() - dead.deadAt, channels: names.length },
        "redis pub/sub link replaced by a new connection",
      );
      this.linkBack();
      return;
    }
  }

  private async resubscribe(kind: PubSubLinkKind, names: string[]): Promise<void> {
    if (kind === "plain") {
      if (this.control !== undefined) await this.cluster.subscribe(this.control.name, this.control.listener, true);
      return;
    }
    const listener = this.listener;
    if (listener !== undefined) await Promise.all(names.map((name) => this.cluster.sSubscribe(name, listener, true)));
  }

  /** A replacement that did not come up in time is dropped too, so the next attempt opens a fresh connection. */
  private dropStalled(dead: DeadLink): void {
    for (const link of clusterPubSubLinks(this.cluster)) {
      if (link.kind !== dead.kind || (link.kind === "shard" && link.address !== dead.address) || link.client.isReady)
        continue;
      if (detachPubSubLink(this.cluster, link)) link.client.destroy();
    }
  }

  /** Channels unsubscribed while their link was being replaced were subscribed again by the replacement; undo that. */
  private unsubscribeLeft(subscribed: readonly string[]): void {
    const left = subscribed.filter((name) => !this.names.has(name));
    if (left.length === 0) return;
    Promise.all(left.map((name) => this.cluster.sUnsubscribe(name))).catch((err: unknown) => {
      this.logger.warn(
        { err, channels: left.length },
        "unsubscribing channels left during a pub/sub link replacement failed",
      );
    });
  }
}
