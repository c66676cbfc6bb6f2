import type { ChannelRules } from "./channels.js";
import type { PresenceStore } from "./presence/presence.js";
import type { Session } from "./session.js";

/**
 * Re-adds this node's presence entries before they expire, from one node-wide timer, so the
 * entries of a node that dies disappear on their own and those of a live node never do.
 */
export class PresenceRefresher {
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly sessions: ReadonlySet<Session>,
    private readonly rules: ChannelRules,
    private readonly presence: PresenceStore,
    intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {
    this.timer = setInterval(() => this.refresh(), intervalMs);
    this.timer.unref();
  }

  refresh(): void {
    for (const session of this.sessions) {
      if (session.state !== "connected") continue;
      for (const channel of session.liveChannels()) {
        const lookup = this.rules.lookup(channel);
        if (lookup.ok && lookup.options.presence)
          this.presence.add(channel, session.presenceInfo(channel)).catch(this.onError);
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
