import type { ResolvedPusherApp } from "./apps.js";

/** A client event as its webhook reports it. */
export interface ClientEventReport {
  /** The Pusher channel name. */
  channel: string;
  event: string;
  /** The data as sent to other clients (a string). */
  data: string;
  socketId: string;
  /** The sender's user id, on presence channels. */
  userId?: string;
}

/**
 * What the Pusher protocol reports about channels and members, for webhooks: local occupancy
 * changes (whether the channel became occupied or vacated cluster-wide is decided by the
 * receiver), a user's first and last connection in a presence channel, and client events.
 * Channels are given by their Pusher name and by the Hubcast channel that holds them.
 */
export interface MembershipEvents {
  /** This node's live subscribers of the channel went from 0 to 1. */
  occupiedLocally(app: ResolvedPusherApp, channel: string, hubcastChannel: string): void;
  /** This node's live subscribers of the channel went from 1 to 0. */
  vacatedLocally(app: ResolvedPusherApp, channel: string, hubcastChannel: string): void;
  /** A user's first connection joined a presence channel (cluster-wide). */
  memberAdded(app: ResolvedPusherApp, channel: string, hubcastChannel: string, userId: string): void;
  /**
   * A connection of a user is leaving a presence channel, before its presence entry is removed;
   * resolves when others can tell the user may be leaving. memberRemoved or memberStayed follows.
   */
  memberLeaving(app: ResolvedPusherApp, channel: string, hubcastChannel: string, userId: string): Promise<void>;
  /** The connection announced by memberLeaving was not the user's last: the user stays. */
  memberStayed(app: ResolvedPusherApp, channel: string, hubcastChannel: string, userId: string): void;
  /** A user's last connection left a presence channel (as far as this node could tell). */
  memberRemoved(app: ResolvedPusherApp, channel: string, hubcastChannel: string, userId: string): void;
  clientEvent(app: ResolvedPusherApp, event: ClientEventReport): void;
}

/** Reports nothing: for nodes whose apps have no webhooks. */
export const NO_MEMBERSHIP_EVENTS: MembershipEvents = {
  occupiedLocally: () => undefined,
  vacatedLocally: () => undefined,
  memberAdded: () => undefined,
  memberLeaving: () => Promise.resolve(),
  memberStayed: () => undefined,
  memberRemoved: () => undefined,
  clientEvent: () => undefined,
};
