import type { RedisClient, RedisConnection, RedisTarget } from "@hubcast/emitter";
import { RedisKeys, connectRedis, firstConnect } from "@hubcast/emitter";
import type { Logger } from "pino";
import { RedisBroker, clusterPubSub, standalonePubSub } from "../broker/redis.js";
import type { PubSubConnection } from "../broker/redis.js";
import { RedisHistory } from "../history/redis.js";
import { RedisPresence } from "../presence/redis.js";
import { RedisRegistry } from "../registry/redis.js";
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
}

export interface RedisEngineOptions {
  /** Where Redis is: `{ url }` for one server, `{ clusterUrls }` for a Redis Cluster. */
  target: RedisTarget;
  /** Key prefix, so deployments can share a Redis. @default "hubcast" */
  prefix?: string;
  /** Presence entries of a node that stopped refreshing them disappear after this many ms. @default 30_000 */
  presenceTtlMs?: number;
  /** A node that stopped announcing itself leaves the cluster view after this many ms. @default 15_000 */
  nodeTtlMs?: number;
  /** How long a publish's idempotency key is remembered, in ms. @default 300_000 */
  idempotencyWindowMs?: number;
  logger: Logger;
}

/**
 * Many nodes as one: pub/sub fan-out (sharded on a cluster), history in streams, presence and
 * the node registry with expiry. One connection for commands, one for subscriptions (on a
 * cluster, the cluster client's per-shard connections).
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
    let pubsub: PubSubConnection;
    if (commands.cluster) {
      pubsub = clusterPubSub(commands.client as Parameters<typeof clusterPubSub>[0]);
    } else {
      const subscriber = (commands.client as RedisClient).duplicate();
      let lastError: Error | undefined;
      subscriber.on("error", (err: Error) => {
        lastError = err;
        onError(err);
      });
      await firstConnect("the subscriber connection", () => subscriber.connect(), () => subscriber.destroy(), () => lastError);
      pubsub = standalonePubSub(subscriber);
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
    return this.commands.isReady() && this.pubsub.isReady();
  }

  async close(): Promise<void> {
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
