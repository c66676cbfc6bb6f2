/**
 * Keeps the member lists of this node's Pusher presence subscribers true when a push never
 * comes: a node that dies takes its members' `member_removed` with it (its presence entries
 * only expire). From one node-wide timer, this node reads the presence of each Pusher presence
 * channel it serves and, to its own subscribers only, pushes `member_removed` for a user the
 * store has not held in two reads in a row, and `member_added` for one that appeared without a
 * push. Two reads, so a push still on its way is never contradicted.
 *
 * What the subscribers were told starts from the member list the channel's first subscriber on
 * this node was shown, then follows the pushes. Not from the store at the reconciler's first
 * look: a push that crossed another (a member's stale leave arriving after its new join, from a
 * reload onto another node) can come in between, and the store would then say what the
 * subscribers were not told, so the difference would never be seen.
 */
import type { ClientInfo } from "@hubcast/protocol";
import type { Logger } from "pino";
import type { PresenceStore } from "../presence/presence.js";

/** What the reconciler needs of its node. */
export interface ReconcilerDeps {
  /** The Pusher presence channels (Hubcast names) this node has subscribers in. */
  channels(): Iterable<string>;
  presence: PresenceStore;
  /** Pushes a join or leave to this node's subscribers of `channel` only. */
  deliver(type: "join" | "leave", channel: string, info: ClientInfo): void;
  /** A member disappeared without a push (its node died): for the member_removed webhook. */
  removed(channel: string, user: string): void;
  intervalMs: number;
  logger: Logger;
}

/** One channel's members as this node's subscribers were told, and the differences seen once. */
interface Told {
  members: Map<string, ClientInfo>;
  /** Users seen missing from (or new in) the store once: a second read in a row acts. */
  missingOnce: Set<string>;
  newOnce: Set<string>;
}

export class PresenceReconciler {
  private readonly told = new Map<string, Told>();
  private readonly timer: NodeJS.Timeout;
  private running = false;

  constructor(private readonly deps: ReconcilerDeps) {
    this.timer = setInterval(() => {
      if (this.running) return; // a slow store: skip a beat rather than pile up reads
      this.running = true;
      this.reconcile()
        .catch((err: unknown) => deps.logger.warn({ err }, "presence reconcile failed"))
        .finally(() => {
          this.running = false;
        });
    }, deps.intervalMs);
    this.timer.unref();
  }

  /** The first live subscriber of `channel` on this node was shown `members`: what its subscribers were told starts there. */
  startFrom(channel: string, members: Iterable<ClientInfo>): void {
    this.told.set(channel, { members: byUser(members), missingOnce: new Set(), newOnce: new Set() });
  }

  /** A join or leave push reached this node: its subscribers were told. */
  observe(type: "join" | "leave", channel: string, info: ClientInfo): void {
    const told = this.told.get(channel);
    if (told === undefined) return;
    if (type === "join") told.members.set(info.user, info);
    else told.members.delete(info.user);
    told.missingOnce.delete(info.user);
    told.newOnce.delete(info.user);
  }

  /** One pass over every served presence channel (the timer's work; tests call it directly). */
  async reconcile(): Promise<void> {
    const served = new Set(this.deps.channels());
    for (const channel of this.told.keys()) if (!served.has(channel)) this.told.delete(channel);
    for (const channel of served) {
      const current = byUser(Object.values(await this.deps.presence.get(channel)));
      const told = this.told.get(channel);
      if (told === undefined) {
        // The channel's first subscriber here was not a Pusher member (a native client): the store is the best guess.
        this.told.set(channel, { members: current, missingOnce: new Set(), newOnce: new Set() });
        continue;
      }
      this.compare(channel, told, current);
    }
  }

  private compare(channel: string, told: Told, current: Map<string, ClientInfo>): void {
    for (const [user, info] of told.members) {
      if (current.has(user)) {
        told.missingOnce.delete(user);
      } else if (told.missingOnce.delete(user)) {
        told.members.delete(user);
        this.deps.deliver("leave", channel, { client: info.client, user });
        this.deps.removed(channel, user);
      } else {
        told.missingOnce.add(user);
      }
    }
    for (const [user, info] of current) {
      if (told.members.has(user)) {
        told.newOnce.delete(user);
      } else if (told.newOnce.delete(user)) {
        told.members.set(user, info);
        this.deps.deliver("join", channel, info);
      } else {
        told.newOnce.add(user);
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.told.clear();
  }
}

/** Members by user, the first entry of each user (a user with several connections is one member). */
function byUser(entries: Iterable<ClientInfo>): Map<string, ClientInfo> {
  const users = new Map<string, ClientInfo>();
  for (const entry of entries) if (!users.has(entry.user)) users.set(entry.user, entry);
  return users;
}
