import type { StatsSample } from "./stats-sampler.js";

/** The control-plane questions the admin UI asks every node. Answers travel over the broker: each is bounded. */
export const AdminQuestion = {
  /** This node's {@link NodeStats} (a few hundred bytes). */
  stats: "admin-stats",
  /** Its stats and its sample history (up to 900 samples, about 45 KB). */
  cluster: "admin-cluster",
  /** Its channels matching a {@link ChannelQuery}: at most `limit` of them, and how many matched. */
  channels: "admin-channels",
  /** Its live subscribers of one channel. */
  channel: "admin-channel",
  /** Its users matching a {@link UserQuery}: at most `limit` of them, and how many matched. */
  users: "admin-users",
} as const;
export type AdminQuestion = (typeof AdminQuestion)[keyof typeof AdminQuestion];

/** A node as the admin UI shows it. Rates are per second over the last sample; `self`: the node that answered the request. */
export interface AdminNode {
  id: string;
  address: string;
  version: string;
  uptimeMs: number;
  ready: boolean;
  connections: number;
  subscriptions: number;
  channels: number;
  publicationsPerSecond: number;
  deliveriesPerSecond: number;
  rssBytes: number;
  eventLoopLagMs: number;
  self: boolean;
}

/** What a node says about itself: an {@link AdminNode} without `self`, which only the asker knows. */
export type NodeStats = Omit<AdminNode, "self">;

/** How channels are ordered: most subscribers first, or highest publication rate first. */
export const CHANNEL_SORTS = ["subscribers", "rate"] as const;
export type ChannelSort = (typeof CHANNEL_SORTS)[number];

/** Most entries one list request (and one node's answer to it) may carry. */
export const MAX_LIST_LIMIT = 500;
/** Entries a list request carries when it does not say. */
export const DEFAULT_LIST_LIMIT = 50;
/** Longest prefix, channel name or user id a question may carry. */
export const MAX_NAME_LENGTH = 1_024;

export interface ChannelQuery {
  prefix: string;
  sort: ChannelSort;
  limit: number;
}

export interface UserQuery {
  prefix: string;
  limit: number;
}

/** One node's answer to {@link AdminQuestion.channels}: `[name, subscribers, publicationsPerSecond]` rows, best first, and how many matched. */
export interface ChannelsAnswer {
  channels: [string, number, number][];
  matching: number;
}

/** One node's answer to {@link AdminQuestion.users}: `[user, connections]` rows, most connections first, and how many matched. */
export interface UsersAnswer {
  users: [string, number][];
  matching: number;
}

/** What the answers are made of: the node's own state, read at the moment of asking. */
export interface LocalNode {
  stats(): NodeStats;
  /** Its samples, oldest first. */
  history(): StatsSample[];
  /** Its channels with local subscribers. */
  channels(): Iterable<{ name: string; subscribers: number; publicationsPerSecond: number }>;
  /** Its live subscribers of `channel`. */
  subscribers(channel: string): number;
  /** The user of each of its connected connections (`""`: anonymous), one entry per connection. */
  connectedUsers(): Iterable<string>;
}

const isLimit = (n: unknown): n is number =>
  Number.isSafeInteger(n) && (n as number) >= 1 && (n as number) <= MAX_LIST_LIMIT;
const isName = (s: unknown): s is string => typeof s === "string" && s.length <= MAX_NAME_LENGTH;

/** The query in `args` when it is one (from another node: checked like any input); else `undefined`. */
export function channelQueryOf(args: unknown): ChannelQuery | undefined {
  if (typeof args !== "object" || args === null) return undefined;
  const { prefix, sort, limit } = args as Record<string, unknown>;
  if (!isName(prefix) || !isLimit(limit) || !(CHANNEL_SORTS as readonly unknown[]).includes(sort)) return undefined;
  return { prefix, sort: sort as ChannelSort, limit };
}

/** The query in `args` when it is one; else `undefined`. */
export function userQueryOf(args: unknown): UserQuery | undefined {
  if (typeof args !== "object" || args === null) return undefined;
  const { prefix, limit } = args as Record<string, unknown>;
  return isName(prefix) && isLimit(limit) ? { prefix, limit } : undefined;
}

/** Orders channel rows `[name, subscribers, rate]` by `sort`, ties by name. */
export function compareChannels(
  sort: ChannelSort,
): (a: [string, number, number], b: [string, number, number]) => number {
  const byName = (a: [string, number, number], b: [string, number, number]): number =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
  return sort === "rate"
    ? (a, b) => b[2] - a[2] || b[1] - a[1] || byName(a, b)
    : (a, b) => b[1] - a[1] || b[2] - a[2] || byName(a, b);
}

/** Orders user rows `[user, connections]`: most connections first, ties by user. */
export const compareUsers = (a: [string, number], b: [string, number]): number =>
  b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

const round2 = (n: number): number => Math.round(n * 100) / 100;

function channelsAnswer(local: LocalNode, query: ChannelQuery): ChannelsAnswer {
  const rows: [string, number, number][] = [];
  for (const { name, subscribers, publicationsPerSecond } of local.channels())
    if (name.startsWith(query.prefix)) rows.push([name, subscribers, round2(publicationsPerSecond)]);
  rows.sort(compareChannels(query.sort));
  return { channels: rows.slice(0, query.limit), matching: rows.length };
}

function usersAnswer(local: LocalNode, query: UserQuery): UsersAnswer {
  const counts = new Map<string, number>();
  for (const user of local.connectedUsers())
    if (user.startsWith(query.prefix)) counts.set(user, (counts.get(user) ?? 0) + 1);
  const rows = [...counts].sort(compareUsers);
  return { users: rows.slice(0, query.limit), matching: rows.length };
}

/**
 * This node's answer to an admin question, or `null` for a question it does not know or
 * arguments it cannot use (the asker treats that node as not having answered).
 */
export function answerAdminQuestion(question: string, args: unknown, local: LocalNode): unknown {
  switch (question) {
    case AdminQuestion.stats:
      return local.stats();
    case AdminQuestion.cluster:
      return { node: local.stats(), history: local.history() };
    case AdminQuestion.channels: {
      const query = channelQueryOf(args);
      return query === undefined ? null : channelsAnswer(local, query);
    }
    case AdminQuestion.channel:
      return isName(args) ? local.subscribers(args) : null;
    case AdminQuestion.users: {
      const query = userQueryOf(args);
      return query === undefined ? null : usersAnswer(local, query);
    }
    default:
      return null;
  }
}
