/**
 * What the Pusher HTTP API (`/apps/{id}/...`) asks of the node: the operations behind its
 * routes, in Pusher's terms (channel names without the app's namespace). The routes check the
 * request signature and the body; the backend publishes and reads, cluster-wide.
 */
import type { ResolvedPusherApp } from "./apps.js";

/** Attributes a caller may ask of a channel (`info=`), in Pusher's field names. */
export const CHANNEL_ATTRIBUTES = ["user_count", "subscription_count", "cache"] as const;
export type ChannelAttribute = (typeof CHANNEL_ATTRIBUTES)[number];

/** One event to publish, as `/events` and each `/batch_events` entry give it. */
export interface PusherEventInput {
  /** Pusher channel names (1 to 100), without the app's namespace. */
  channels: readonly string[];
  /** The event name (at most 200 characters). */
  name: string;
  /** The event data, as the caller sent it (a string; usually JSON). */
  data: string;
  /** The connection not to send it to (`socket_id`, `"1234.5678"`). */
  socketId?: string;
  /** Attributes to answer per channel, after publishing. @default none */
  info?: readonly ChannelAttribute[];
}

/** A channel's attributes; only those asked for are present. */
export interface ChannelInfo {
  occupied?: boolean;
  user_count?: number;
  subscription_count?: number;
  /** For `cache-` channels: the cached event, when asked for `cache` and there is one. */
  cache?: { data: string; ttl: number };
}

/** Thrown by a backend for a request it refuses: the routes answer `status` with `message` as Pusher does. */
export class PusherApiError extends Error {
  override readonly name = "PusherApiError";
  constructor(
    readonly status: 400 | 403 | 404 | 413 | 429 | 500 | 503,
    message: string,
  ) {
    super(message);
  }
}

export interface PusherApiBackend {
  /**
   * Publishes one event to each of its channels (cluster-wide). Resolves, when `info` was
   * asked, with the attributes of each channel after publishing; otherwise with undefined.
   */
  trigger(app: ResolvedPusherApp, event: PusherEventInput): Promise<Record<string, ChannelInfo> | undefined>;
  /**
   * The app's occupied channels across the cluster, filtered by name prefix. `userCount`
   * (only with a `presence-` prefix) adds each channel's `user_count`.
   */
  channels(
    app: ResolvedPusherApp,
    query: { prefix: string; userCount: boolean },
  ): Promise<Record<string, { user_count?: number }>>;
  /** One channel's `occupied` flag and the attributes asked for. */
  channel(app: ResolvedPusherApp, name: string, info: readonly ChannelAttribute[]): Promise<ChannelInfo>;
  /** The user ids in a presence channel, across the cluster. */
  users(app: ResolvedPusherApp, channel: string): Promise<{ id: string }[]>;
  /** Closes every connection of the app signed in as `userId` (`pusher:signin`), on every node. */
  terminateUserConnections(app: ResolvedPusherApp, userId: string): Promise<void>;
}
