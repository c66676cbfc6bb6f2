import type { ClientInfo, RawPublication, StreamPosition } from "@hubcast/protocol";

/** How a channel keeps history; `size: 0` means no history (publications get no offset). */
export interface HistoryPolicy {
  /** Publications kept per channel. */
  size: number;
  /** How long publications are kept after a channel's last publication, in ms. */
  ttlMs: number;
  /**
   * How long the channel's position (epoch and offset) outlives its last publication, in ms;
   * at least `ttlMs`. Keeping it longer than the publications lets a client on a quiet
   * channel learn it missed nothing instead of "cannot know".
   */
  metaTtlMs: number;
}

/**
 * What makes one publish safe to retry and bounded in time. Every engine honours both, so a
 * caller's guarantees do not depend on the engine it runs on.
 */
export interface PublishOptions {
  /**
   * A key the publisher chose (at most 64 characters). A publish whose key was already used in
   * the same channel within the engine's idempotency window is not made again: it resolves to
   * the first publication's position (`undefined` without history) and delivers nothing.
   * Without a key every publish is new.
   */
  idempotencyKey?: string;
  /**
   * Wall-clock time, in ms since the Unix epoch, after which the publish must not be made.
   * Checked where the publish executes (the Redis server's clock in its script, the memory
   * engine's or the relay's process), so a command that sat in a socket or a queue past it is
   * refused rather than run late. Rejects with {@link PublishExpiredError}.
   */
  deadline?: number;
}

/** The publish reached the engine after its deadline and was not made: safe to retry. */
export class PublishExpiredError extends Error {
  override readonly name = "PublishExpiredError";
}

/**
 * No answer came in time, so the publish may or may not have been made (it was sent, and the
 * engine cannot be asked). A publish with a deadline will not be made after it; retrying with
 * the same idempotency key is safe.
 */
export class PublishOutcomeUnknownError extends Error {
  override readonly name = "PublishOutcomeUnknownError";
}

/** What a broker hands back to its node. Backends never see the node itself. */
export interface BrokerHandlers {
  /** A publication (from any node) in a channel this node subscribed to, in offset order. */
  publication(pub: RawPublication): void;
  join(channel: string, info: ClientInfo): void;
  leave(channel: string, info: ClientInfo): void;
  /** Publications may have been lost (the broker reconnected): the node re-reads history for every channel it serves. */
  resync(): void;
  /** A control message from any node, this one included (surveys, cluster-wide disconnects). */
  control(message: Uint8Array): void;
}

/**
 * Fans publications out to every node that subscribed to the channel. The Hub calls
 * `subscribe` when a channel's first local subscriber arrives and `unsubscribe` when its last
 * leaves, so a node only hears the channels it serves.
 */
export interface Broker {
  /** Starts delivering to `handlers`; called once before any other method. */
  start(handlers: BrokerHandlers): Promise<void>;
  /** Resolves once publications in these channels will reach this node's handlers. */
  subscribe(channels: readonly string[]): Promise<void>;
  unsubscribe(channels: readonly string[]): Promise<void>;
  /**
   * Appends to history (when `history.size > 0`) and fans out, atomically: offsets are
   * gap-free and every node sees publications of one channel in offset order.
   * Resolves to the publication's position, or `undefined` without history. With `options`,
   * a repeated idempotency key is not published again and a passed deadline is refused
   * ({@link PublishOptions}); rejects with PublishExpiredError or PublishOutcomeUnknownError.
   */
  publish(
    pub: Omit<RawPublication, "offset">,
    history: HistoryPolicy,
    options?: PublishOptions,
  ): Promise<StreamPosition | undefined>;
  /** Tells every node serving the channel that a client joined or left it. */
  publishJoin(channel: string, info: ClientInfo): Promise<void>;
  publishLeave(channel: string, info: ClientInfo): Promise<void>;
  /** Sends a control message to every node, this one included. Low volume: not for publications. */
  publishControl(message: Uint8Array): Promise<void>;
  close(): Promise<void>;
}
