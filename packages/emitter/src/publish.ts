import { randomBytes } from "node:crypto";
import type { ClientInfo, StreamPosition } from "@hubcast/protocol";
import type { RedisKeys } from "./keys.js";
import { encodePlainPublication } from "./messages.js";
import type { RedisCommander } from "./scripts.js";
import { PUBLISH } from "./scripts.js";

/** How a channel keeps history, in the same terms as a node's namespace options. */
export interface HistoryPolicy {
  /** Publications kept; 0 means no history (no offsets). */
  size: number;
  /** How long publications are kept after the channel's last publication, in ms. */
  ttlMs: number;
  /** How long the channel's position is kept after its last publication, in ms. */
  metaTtlMs: number;
}

/** What is published: data already encoded (UTF-8 JSON text for protocol v1). */
export interface PublicationInput {
  channel: string;
  data: Uint8Array;
  info?: ClientInfo;
}

/** A fresh epoch: random, short, URL-safe. */
export const newEpoch = (): string => randomBytes(6).toString("base64url");

/**
 * Publishes through Redis exactly as a node does: with history, append and publish in one
 * script (gap-free offsets, one order for every node); without, a plain publish.
 */
export async function publishThroughRedis(
  redis: RedisCommander & { readonly cluster: boolean },
  keys: RedisKeys,
  pub: PublicationInput,
  policy: HistoryPolicy,
): Promise<StreamPosition | undefined> {
  const pubsub = keys.pubsub(pub.channel);
  if (policy.size === 0) {
    await redis.send(pubsub, [redis.cluster ? "SPUBLISH" : "PUBLISH", pubsub, encodePlainPublication(pub.data, pub.info)]);
    return undefined;
  }
  const reply = (await PUBLISH.run(
    redis,
    [keys.stream(pub.channel), keys.meta(pub.channel)],
    [
      pubsub,
      Buffer.from(pub.data.buffer, pub.data.byteOffset, pub.data.byteLength),
      pub.info === undefined ? "" : JSON.stringify(pub.info),
      String(policy.size),
      String(policy.ttlMs),
      String(policy.metaTtlMs),
      newEpoch(),
      redis.cluster ? "spublish" : "publish",
    ],
  )) as [number, Buffer];
  return { offset: Number(reply[0]), epoch: reply[1].toString() };
}
