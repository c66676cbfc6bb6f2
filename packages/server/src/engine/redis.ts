import type { RedisClient, RedisClusterClient, RedisConnection, RedisTarget } from "@hubcast/emitter";
import { RedisKeys, connectRedis, firstConnect } from "@hubcast/emitter";
import type { Logger } from "pino";
import { RedisBroker } from "../broker/redis.js";
import type { PubSubConnection } from "../broker/redis.js";
import { resolveLiveness } from "../broker/link-liveness.js";
import { LiveClusterPubSub } from "../broker/redis-cluster-pubsub.js";
import { LiveSubscriber } from "../broker/redis-subscriber.js";
import type { EngineLink } from "./engine.js";
import { RedisHistory } from "../history/redis.js";
import { RedisPresence } from "../presence/redis.js";
import { RedisRegistry } from "../registry/redis.js";
import { CommandLinkWatch, commandLinks } from "./redis-command-watch.js";
import type { Engine, EngineObserver } from "./engine.js";

/** Forwards connection events to the observer the node sets; events before that are only logged. */
class ObserverRelay implements EngineObserver {
  target: EngineObserver | undefined;
  reconnected(): void {
    this.target?.reconnected();
  }
  error(): void {
    this.target?.error();
  }
  linkDead(link: EngineLink): void {
    this.target?.linkDead?.(link);
  }
}

export interface RedisEngineOptions {
  /** Where Redis is: `{ url }` for one server, `{ clusterUrls }` for a Redis Cluster (`nodeAddressMap` to dial its nodes elsewhere than they announce). */
  target: RedisTarget;
  /** Key prefix, so deployments can share a Redis. @default "hubcast" */
  prefix?: string;
  /** Presence entries of a node that stopped refreshing them disappear after this many ms. @default 30_000 */
  presenceTtlMs?: number;
  /** A node that stopped announcing itself leaves the cluster view after this many ms. @default 15_000 */
  nodeTtlMs?: number;
  /** How often each connection is checked with a PING, in ms (on a cluster, each shard's pub/sub connection). @default 1_000 */
  linkPingIntervalMs?: number;
  /**
   * A PING on a pub/sub connection (on a cluster, any shard's) unanswered for this long declares
   * it dead (it is then replaced); the command connection uses its 5 s command timeout. @default 2_000
   */
  linkPongTimeoutMs?: number;
  /** How long a publish's idempotency key is remembered, in ms. @default 300_000 */
  idempotencyWindowMs?: number;
  logger: Logger;
}

/**
 * Many nodes as one: pub/sub fan-out (sharded on a cluster), history in streams, presence and
 * the node registry with expiry. One connection for commands, one for subscriptions (on a
 * cluster, the cluster client's per-shard connections); every pub/sub connection is pinged and
 * replaced when it goes silent.
 */
export class RedisEngine implements Engine {
  readonly name: string;
  readonly presenceTtlMs: number;

  private constructor(
    private readonly commands: RedisConnection,
    private readonly pubsub: PubSubConnection,
    readonly broker: RedisBroker,
    readonly history: RedisHistory,
    readonly presence: RedisPresence,
    readonly registry: RedisRegistry,
    options: RedisEngineOptions,
    private readonly relay: ObserverRelay,
    private readonly commandWatch: CommandLinkWatch,
  ) {
    this.name = commands.cluster ? "redis-cluster" : "redis";
    this.presenceTtlMs = options.presenceTtlMs ?? 30_000;
  }

  /** Connects both connections; rejects if Redis cannot be reached at start. */
  static async connect(options: RedisEngineOptions): Promise<RedisEngine> {
    const { logger } = options;
    const keys = new RedisKeys(options.prefix ?? "hubcast");
    const relay = new ObserverRelay();
    const onError = (err: Error): void => {
      logger.warn({ err: err.message }, "redis connection error");
      relay.error();
    };
    const commands = await connectRedis(options.target, onError);
    const { pingIntervalMs, pongTimeoutMs } = resolveLiveness({
      pingIntervalMs: options.linkPingIntervalMs,
      pongTimeoutMs: options.linkPongTimeoutMs,
    });
    const liveness = { pingIntervalMs, pongTimeoutMs, onDead: () => relay.linkDead("pubsub") };
    let pubsub: PubSubConnection;
    if (commands.cluster) {
      pubsub = new LiveClusterPubSub(commands.client as RedisClusterClient, logger, liveness);
    } else {
      let lastError: Error | undefined;
      const create = (): RedisClient => {
        const subscriber = (commands.client as RedisClient).duplicate();
        subscriber.on("error", (err: Error) => {
          lastError = err;
          onError(err);
        });
        return subscriber;
      };
      const subscriber = create();
      await firstConnect(
        "the subscriber connection",
        () => subscriber.connect(),
        () => subscriber.destroy(),
        () => lastError,
      );
      pubsub = new LiveSubscriber(subscriber, create, logger, liveness);
      countReconnects(commands.client as RedisClient, relay, logger);
    }
    pubsub.onReconnected(() => relay.reconnected());
    return new RedisEngine(
      commands,
      pubsub,
      new RedisBroker(commands, pubsub, keys, logger, options.idempotencyWindowMs),
      new RedisHistory(commands, keys),
      new RedisPresence(commands, keys, options.presenceTtlMs ?? 30_000),
      new RedisRegistry(commands, keys, options.nodeTtlMs ?? 15_000),
      options,
      relay,
      new CommandLinkWatch(commandLinks(commands), pingIntervalMs, logger, () => relay.linkDead("command")),
    );
  }

  observe(observer: EngineObserver): void {
    this.relay.target = observer;
  }

  /** Presence entries must be refreshed within this, or they expire. */
  get presenceRefreshMs(): number {
    return Math.floor(this.presenceTtlMs / 3);
  }

  isReady(): boolean {
    // On one server the connection's own health follows every reply, so readiness comes back
    // with the first answered command; on a cluster a reply says nothing about the other
    // masters, so a master whose PING went unanswered keeps the node unready until it answers.
    const mastersAnswering = !this.commands.cluster || this.commandWatch.answering;
    return this.commands.isReady() && mastersAnswering && this.pubsub.isReady();
  }

  async close(): Promise<void> {
    this.commandWatch.stop();
    await this.broker.close();
    await this.commands.close();
  }
}

/** Logs and counts the command connection's reconnects: every `ready` after the first connect. */
function countReconnects(client: RedisClient, relay: ObserverRelay, logger: Logger): void {
  client.on("ready", () => {
    logger.info("redis command connection reconnected");
    relay.reconnected();
  });
}
