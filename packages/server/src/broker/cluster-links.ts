import type { RedisClusterClient } from "@hubcast/emitter";

/** A connection of the cluster client to one Redis node. */
export type ClusterNodeClient = NonNullable<RedisClusterClient["masters"][number]["client"]>;

/** What a pub/sub connection of the cluster client carries: one master's sharded channels, or the plain channels. */
export const PubSubLinkKind = { shard: "shard", plain: "plain" } as const;
export type PubSubLinkKind = (typeof PubSubLinkKind)[keyof typeof PubSubLinkKind];

/** One pub/sub connection the cluster client holds. */
export interface ClusterPubSubLink {
  readonly kind: PubSubLinkKind;
  /** The node's `host:port` as the cluster announces it (before any `nodeAddressMap`). */
  readonly address: string;
  readonly client: ClusterNodeClient;
  /** True while the connection makes its first connect (and its subscribe waits for it). */
  readonly connecting: boolean;
}

/**
 * The pub/sub connections the cluster client holds now: one per master with sharded
 * subscriptions, and the one for plain (non-sharded) channels if any. The cluster client opens
 * them on the first subscribe to a shard and closes them when its last channel is unsubscribed.
 */
export function clusterPubSubLinks(cluster: RedisClusterClient): ClusterPubSubLink[] {
  const links: ClusterPubSubLink[] = [];
  for (const master of cluster.masters) {
    const pubSub = master.pubSub;
    if (pubSub !== undefined)
      links.push({
        kind: "shard",
        address: master.address,
        client: pubSub.client,
        connecting: pubSub.connectPromise !== undefined,
      });
  }
  const plain = cluster.pubSubNode;
  if (plain !== undefined)
    links.push({
      kind: "plain",
      address: plain.address,
      client: plain.client,
      connecting: plain.connectPromise !== undefined,
    });
  return links;
}

/**
 * Makes the cluster client forget `link`'s connection, so the next subscribe to a channel of
 * that shard (or to a plain channel) opens a new one; the caller destroys the old connection.
 * False when the cluster client no longer holds that connection (it replaced it meanwhile).
 *
 * node-redis 6 has no public way to do this: a destroyed connection stays in its bookkeeping and
 * every later subscribe there fails. This is the one place that writes its pub/sub state (a
 * master's `pubSub` and the slots' `pubSubNode`, the same objects its public `masters` and
 * `pubSubNode` getters return); `cluster-links.int.test.ts` fails loudly if an upgrade changes it.
 */
export function detachPubSubLink(cluster: RedisClusterClient, link: ClusterPubSubLink): boolean {
  if (link.kind === "plain") {
    if (cluster._slots.pubSubNode?.client !== link.client) return false;
    cluster._slots.pubSubNode = undefined;
    return true;
  }
  const master = cluster.masters.find((m) => m.pubSub?.client === link.client);
  if (master === undefined) return false;
  master.pubSub = undefined;
  return true;
}
