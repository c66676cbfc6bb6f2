import type { JsonValue, StreamPosition } from "@hubcast/protocol";
import { encodeJsonData } from "@hubcast/protocol";
import type { RedisConnection, RedisTarget } from "./connection.js";
import { connectRedis } from "./connection.js";
import { RedisKeys } from "./keys.js";
import type { HistoryPolicy } from "./publish.js";
import { publishThroughRedis } from "./publish.js";

/** History options per namespace, named as in a node's config (other keys are ignored). */
export interface EmitterHistoryOptions {
  historySize?: number;
  historyTtlMs?: number;
  historyMetaTtlMs?: number;
}

export interface EmitterOptions {
  /** Key prefix; must match the nodes' `redisPrefix`. @default "hubcast" */
  prefix?: string;
  /** History options for channels without a namespace, as in the nodes' config. @default no history */
  channel?: EmitterHistoryOptions;
  /** History options per namespace: pass the nodes' `namespaces` object as it is. @default {} */
  namespaces?: Readonly<Record<string, EmitterHistoryOptions>>;
  /** Connection errors (Redis reconnects by itself). @default logged with console.error */
  onError?: (err: Error) => void;
}

const toPolicy = (o: EmitterHistoryOptions | undefined): HistoryPolicy => ({
  size: o?.historySize ?? 0,
  ttlMs: o?.historyTtlMs ?? 300_000,
  metaTtlMs: o?.historyMetaTtlMs ?? 86_400_000,
});

/**
 * Publishes into Hubcast channels from a backend process, straight through Redis: the
 * publications get the same offsets and history as those made through a node, and reach
 * every node's subscribers. Give it the same namespaces as the nodes so history matches.
 *
 * ```ts
 * const emitter = await RedisEmitter.connect({ url: "redis://127.0.0.1:6379" }, { namespaces });
 * await emitter.publish("chat:lobby", { text: "deploy finished" });
 * ```
 */
export class RedisEmitter {
  private constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly options: EmitterOptions,
  ) {}

  static async connect(target: RedisTarget, options: EmitterOptions = {}): Promise<RedisEmitter> {
    const keys = new RedisKeys(options.prefix ?? "hubcast");
    const onError = options.onError ?? ((err: Error) => console.error("hubcast emitter: redis error:", err.message));
    return new RedisEmitter(await connectRedis(target, onError), keys, options);
  }

  /** Publishes a JSON value; resolves to its position when the channel keeps history. */
  publish(channel: string, data: JsonValue): Promise<StreamPosition | undefined> {
    return this.publishEncoded(channel, encodeJsonData(data));
  }

  /** Publishes data already encoded as UTF-8 JSON text. */
  async publishEncoded(channel: string, data: Uint8Array): Promise<StreamPosition | undefined> {
    return publishThroughRedis(this.redis, this.keys, { channel, data }, this.policyFor(channel));
  }

  close(): Promise<void> {
    return this.redis.close();
  }

  private policyFor(channel: string): HistoryPolicy {
    const cut = channel.indexOf(":");
    if (cut < 0) return toPolicy(this.options.channel);
    const name = channel.slice(0, cut);
    const namespaces = this.options.namespaces ?? {};
    const namespace = Object.hasOwn(namespaces, name) ? namespaces[name] : undefined;
    if (namespace === undefined) throw new TypeError(`namespace "${channel.slice(0, cut)}" is not in the emitter's namespaces`);
    return toPolicy(namespace);
  }
}
