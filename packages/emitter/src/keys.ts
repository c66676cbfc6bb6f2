/** The channel as it stands inside a hash tag: never contains `}` (which would end the tag early). */
const tag = (channel: string): string => channel.replace(/[%}]/g, (c) => (c === "%" ? "%25" : "%7D"));
const untag = (text: string): string => text.replace(/%(25|7D)/g, (_, code: string) => (code === "25" ? "%" : "}"));

/**
 * Redis key and channel names. Every key of one Hubcast channel carries the channel in a
 * hash tag (`{…}`, with `%` and `}` escaped so the tag is always the whole channel), so on a
 * Redis Cluster its stream, position, presence and sharded pub/sub channel live on the same
 * shard, and one script can touch all of them.
 */
export class RedisKeys {
  private readonly pubsubHead: string;

  /** @param prefix namespaces every key, so several deployments can share one Redis. */
  constructor(readonly prefix: string = "hubcast") {
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(prefix)) {
      throw new TypeError(`redis prefix must be 1-64 of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(prefix)}`);
    }
    this.pubsubHead = `${prefix}:{`;
  }

  /** The stream holding a channel's retained publications. */
  stream(channel: string): string {
    return `${this.prefix}:{${tag(channel)}}:stream`;
  }

  /** The hash holding a channel's position: `e` epoch, `o` offset. */
  meta(channel: string): string {
    return `${this.prefix}:{${tag(channel)}}:meta`;
  }

  /** Presence: a hash of client id → info, and a sorted set of client id → expiry time. */
  presence(channel: string): string {
    return `${this.prefix}:{${tag(channel)}}:presence`;
  }

  presenceExpiry(channel: string): string {
    return `${this.prefix}:{${tag(channel)}}:presence-expiry`;
  }

  /**
   * Where an idempotency key of a channel's publish is remembered: inside the channel's hash
   * tag, so the publish script on a cluster can check and record it on the channel's shard.
   */
  idempotency(channel: string, key: string): string {
    return `${this.prefix}:{${tag(channel)}}:idem:${key}`;
  }

  /** The pub/sub channel a Hubcast channel's publications travel on. */
  pubsub(channel: string): string {
    return `${this.prefix}:{${tag(channel)}}:pub`;
  }

  /** The Hubcast channel of a pub/sub channel name, or `undefined` if it is not one of ours. */
  channelOf(pubsubName: string): string | undefined {
    if (!pubsubName.startsWith(this.pubsubHead) || !pubsubName.endsWith("}:pub")) return undefined;
    return untag(pubsubName.slice(this.pubsubHead.length, -"}:pub".length));
  }

  /** Node-to-node control messages (surveys, cluster-wide disconnects). */
  control(): string {
    return `${this.prefix}:control`;
  }

  /** The node registry: a sorted set of node id → expiry and a hash of node id → info. */
  nodesExpiry(): string {
    return `${this.prefix}:{nodes}:expiry`;
  }

  nodesInfo(): string {
    return `${this.prefix}:{nodes}:info`;
  }
}
