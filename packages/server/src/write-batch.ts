/** Something whose queued frames can be written in one go. */
export interface Flushable {
  flush(): void;
}

/**
 * Coalesces writes: frames queued for a socket during one turn of the event loop go out
 * together at the end of it (one corked writev), so a burst of publications costs one
 * syscall per socket instead of one per publication. One node-wide `setImmediate`, not one
 * per connection.
 */
export class WriteBatch {
  private dirty: Flushable[] = [];
  private scheduled = false;
  private readonly run = (): void => this.flushAll();

  /** Marks `target` as holding queued frames; it is flushed once at the end of this turn. */
  add(target: Flushable): void {
    this.dirty.push(target);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  flushAll(): void {
    this.scheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const target of dirty) target.flush();
  }
}
