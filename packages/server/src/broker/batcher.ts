/**
 * Collects items added in the same tick and hands them to `flush` in one call, so a burst of
 * thousands of subscribes (a reconnect storm, a page of channels) costs a few round trips.
 * Every caller's promise settles with its batch's outcome.
 */
export class Batcher<T> {
  private batch: { items: T[]; done: Promise<void> } | undefined;

  constructor(private readonly flush: (items: T[]) => Promise<void>) {}

  add(items: readonly T[]): Promise<void> {
    if (this.batch === undefined) {
      const batch: { items: T[]; done: Promise<void> } = { items: [], done: Promise.resolve() };
      batch.done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.batch = undefined;
        return this.flush(batch.items);
      });
      this.batch = batch;
    }
    this.batch.items.push(...items);
    return this.batch.done;
  }
}
