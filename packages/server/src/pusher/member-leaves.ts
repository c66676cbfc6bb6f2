/**
 * The presence leaves this node is still deciding, by channel and user. A leave removes the
 * connection's entry, reads whether the user has another one, then pushes `member_removed` and
 * reports it; a join reads the members, adds its entry, then pushes `member_added` and reports
 * it. When the same user leaves and comes back on one node (a reload, an unsubscribe and
 * subscribe), the join waits for the leave, so the two never cross: without the wait, a join
 * that read the members after the leave's remove would report a second `member_added` before
 * the leave reported its removal (which the webhook tracker would have held back as a reload),
 * and its push could overtake the leave's, so other members would drop a user who is there.
 */
export class MemberLeaves {
  /** `channel\nuser` → the leaves of that user in that channel not yet decided. */
  private readonly pending = new Map<string, Promise<void>>();

  /** Records a leave being decided; `decided` must not reject. */
  track(channel: string, user: string, decided: Promise<void>): void {
    const key = keyOf(channel, user);
    const before = this.pending.get(key);
    const all = before === undefined ? decided : Promise.all([before, decided]).then(() => undefined);
    this.pending.set(key, all);
    void all.then(() => {
      if (this.pending.get(key) === all) this.pending.delete(key);
    });
  }

  /** Resolves once every leave of `user` in `channel` recorded so far is decided. */
  async settled(channel: string, user: string): Promise<void> {
    await this.pending.get(keyOf(channel, user));
  }

  /** Leaves being decided (for tests and bounds: at most one per member connection). */
  get size(): number {
    return this.pending.size;
  }
}

const keyOf = (channel: string, user: string): string => `${channel}\n${user}`;
