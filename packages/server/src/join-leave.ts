import type { ClientInfo, MembersPush } from "@hubcast/protocol";
import type { Logger } from "pino";

/** What the batch needs of its node: where a channel's joins and leaves go, and how they are told. */
export interface JoinLeaveHooks {
  /**
   * Whether the channel's joins and leaves are batched (Hubcast's own `joinLeave` channels).
   * Other channels (Pusher's presence channels, whose protocol needs one event per member and
   * skips the joiner) get one push per change at once, through `deliverOne`.
   */
  batched(channel: string): boolean;
  /** Whether this node has live subscribers of the channel: changes of others are not kept. */
  hasSubscribers(channel: string): boolean;
  /** Fans one channel's push for the period out to its live subscribers, encoded once. */
  deliverBatch(push: MembersPush): void;
  /** Fans one change out at once (the unbatched channels). */
  deliverOne(type: "join" | "leave", channel: string, info: ClientInfo): void;
  logger: Logger;
}

/** How often and how much (the node options `joinLeaveIntervalMs` and `joinLeaveMaxEntries`). */
export interface JoinLeaveLimits {
  /** The period: changes heard during it go out together at its end, in ms. */
  intervalMs: number;
  /** Most changes one push lists; past it the push only counts them. */
  maxEntries: number;
}

/**
 * Coalesces the joins and leaves this node hears from the broker: for each channel, everything
 * heard during one period goes out as one `members` push to every local subscriber, so a room
 * filling up costs each subscriber at most one push per period rather than one per join.
 * One node-wide timer runs while changes wait, none when the node is quiet.
 *
 * Within a period a join cancels nothing and a leave cancels the same connection's join of the
 * period (both vanish: nobody needs to hear of a member that came and went); what remains for a
 * connection is at most a leave followed by a join, so a push lists leaves first, then joins,
 * each in the order heard. Memory is bounded: per channel with local subscribers, at most
 * `maxEntries` listed changes (past it only counts), and cancelled slots are compacted away.
 */
export class JoinLeaveBatch {
  private pending = new Map<string, ChannelChanges>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: JoinLeaveLimits,
    private readonly hooks: JoinLeaveHooks,
  ) {}

  /** A join or leave the broker delivered (from any node, this one included). */
  heard(type: "join" | "leave", channel: string, info: ClientInfo): void {
    if (!this.hooks.batched(channel)) {
      this.hooks.deliverOne(type, channel, info);
      return;
    }
    let changes = this.pending.get(channel);
    if (changes === undefined) {
      if (!this.hooks.hasSubscribers(channel)) return;
      changes = new ChannelChanges(this.limits.maxEntries);
      this.pending.set(channel, changes);
      this.timer ??= setTimeout(() => this.flush(), this.limits.intervalMs).unref();
    }
    changes.add(type, info);
  }

  /** Ends the period now: one push per channel with changes left. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const pending = this.pending;
    this.pending = new Map();
    for (const [channel, changes] of pending) {
      const push = changes.toPush(channel);
      if (push === undefined) continue;
      try {
        this.hooks.deliverBatch(push);
      } catch (err) {
        // A timer callback that throws would end the process; one channel's failure must not.
        this.hooks.logger.error({ err, channel }, "delivering joins and leaves failed");
      }
    }
  }

  /** Drops what waits and stops the timer (the node is closing). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = new Map();
  }
}

interface Change {
  type: "join" | "leave";
  info: ClientInfo;
}

/** One channel's changes in the current period. */
export class ChannelChanges {
  /** Listed changes in the order heard; `undefined` where a join was cancelled by its leave. */
  private entries: (Change | undefined)[] = [];
  /** Connection → index in `entries` of its join of this period. */
  private readonly joinAt = new Map<string, number>();
  private listed = 0;
  private joins = 0;
  private leaves = 0;
  /** More than `maxEntries` changes: only the counts are kept. */
  private overflowed = false;

  constructor(private readonly maxEntries: number) {}

  add(type: "join" | "leave", info: ClientInfo): void {
    if (type === "leave") {
      const at = this.joinAt.get(info.client);
      if (at !== undefined) {
        this.joinAt.delete(info.client);
        this.entries[at] = undefined;
        this.listed -= 1;
        this.joins -= 1;
        return;
      }
      this.leaves += 1;
    } else {
      this.joins += 1;
    }
    if (this.overflowed) return;
    if (this.listed === this.maxEntries) {
      this.overflowed = true;
      this.entries = [];
      this.joinAt.clear();
      return;
    }
    if (this.entries.length >= 2 * this.maxEntries) this.compact();
    if (type === "join") this.joinAt.set(info.client, this.entries.length);
    this.entries.push({ type, info });
    this.listed += 1;
  }

  /** The period's push; `undefined` when every change cancelled out. */
  toPush(channel: string): MembersPush | undefined {
    if (this.overflowed) return { channel, leaves: [], joins: [], summary: { joins: this.joins, leaves: this.leaves } };
    if (this.listed === 0) return undefined;
    const leaves: ClientInfo[] = [];
    const joins: ClientInfo[] = [];
    for (const change of this.entries) {
      if (change !== undefined) (change.type === "join" ? joins : leaves).push(change.info);
    }
    return { channel, leaves, joins };
  }

  /** Drops cancelled slots, so a connection subscribing and leaving over and over cannot grow the list. */
  private compact(): void {
    this.entries = this.entries.filter((change) => change !== undefined);
    this.joinAt.clear();
    for (const [index, change] of this.entries.entries()) {
      if (change?.type === "join") this.joinAt.set(change.info.client, index);
    }
  }
}
