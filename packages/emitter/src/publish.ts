import { randomBytes } from "node:crypto";
import type { ClientInfo, StreamPosition } from "@hubcast/protocol";
import { ClientClosedError, ClientOfflineError, ErrorReply } from "@redis/client";
import type { RedisKeys } from "./keys.js";
import { encodePlainPublication } from "./messages.js";
import type { RedisCommander } from "./scripts.js";
import { EXPIRED_REPLY, PUBLISH, PUBLISH_PLAIN } from "./scripts.js";

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

/** What makes a publish safe to retry and bounded in time (see the server's `PublishOptions`). */
export interface PublishRetryOptions {
  /** At most 64 characters; a key used in the channel within `windowMs` is not published again. */
  idempotencyKey?: string;
  /** Ms since the Unix epoch, by the Redis server's clock, after which Redis refuses the publish. */
  deadline?: number;
  /** How long a key is remembered, in ms; keep it equal to the nodes' `idempotencyWindowMs`. */
  windowMs: number;
}

/** Redis ran the publish after its deadline and refused it: nothing was written or delivered. */
export class PublishDeadlineError extends Error {
  override readonly name = "PublishDeadlineError";
  readonly code = "PUBLISH_EXPIRED";
}

/** Longest idempotency key, in characters, as the protocol allows. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 64;

/**
 * True for a publish failure that leaves nothing published: Redis answered with an error, or
 * the command was never sent (the client is offline or closed). Any other failure (a timeout,
 * the socket closing with the command in flight) leaves the outcome unknown.
 */
export const publishNotMade = (err: unknown): boolean =>
  err instanceof ErrorReply ||
  err instanceof ClientOfflineError ||
  err instanceof ClientClosedError ||
  err instanceof PublishDeadlineError;

/** A fresh epoch: random, short, URL-safe. */
export const newEpoch = (): string => randomBytes(6).toString("base64url");

/**
 * Publishes through Redis exactly as a node does: with history, append and publish in one
 * script (gap-free offsets, one order for every node); without, a plain publish, or a script
 * when a key or a deadline must be honoured. A repeated key resolves to the first position
 * (`undefined` without history) and publishes nothing. Rejects with
 * {@link PublishDeadlineError} when Redis ran it after `retry.deadline`.
 */
export async function publishThroughRedis(
  redis: RedisCommander & { readonly cluster: boolean },
  keys: RedisKeys,
  pub: PublicationInput,
  policy: HistoryPolicy,
  retry?: PublishRetryOptions,
): Promise<StreamPosition | undefined> {
  const key = retry?.idempotencyKey;
  if (key !== undefined && (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)) {
    throw new TypeError(`idempotencyKey must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters, got ${key.length}`);
  }
  const idempotency = key === undefined ? [] : [keys.idempotency(pub.channel, key)];
  const deadline = retry?.deadline === undefined ? "" : String(Math.floor(retry.deadline));
  const windowMs = String(retry?.windowMs ?? 0);
  const pubsub = keys.pubsub(pub.channel);
  const command = redis.cluster ? "spublish" : "publish";
  try {
    if (policy.size === 0) {
      const message = encodePlainPublication(pub.data, pub.info);
      if (key === undefined && deadline === "") await redis.send(pubsub, [command.toUpperCase(), pubsub, message]);
      else await PUBLISH_PLAIN.run(redis, idempotency, [pubsub, message, command, deadline, windowMs], pubsub);
      return undefined;
    }
    const reply = (await PUBLISH.run(
      redis,
      [keys.stream(pub.channel), keys.meta(pub.channel), ...idempotency],
      [
        pubsub,
        Buffer.from(pub.data.buffer, pub.data.byteOffset, pub.data.byteLength),
        pub.info === undefined ? "" : JSON.stringify(pub.info),
        String(policy.size),
        String(policy.ttlMs),
        String(policy.metaTtlMs),
        newEpoch(),
        command,
        deadline,
        windowMs,
      ],
    )) as [number, Buffer];
    return { offset: Number(reply[0]), epoch: reply[1].toString() };
  } catch (err) {
    if (err instanceof ErrorReply && err.message.startsWith(EXPIRED_REPLY)) {
      throw new PublishDeadlineError(err.message.slice(EXPIRED_REPLY.length + 1), { cause: err });
    }
    throw err;
  }
}
