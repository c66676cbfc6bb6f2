/** The payload of every `"error"` event the SDK emits. */
export interface ErrorEvent {
  /** What failed: often a {@link HubcastError} (check `code`), else a plain Error. */
  error: Error;
}

/** Every emitter has an `"error"` event; the other names and payloads are the owner's. */
export interface EmitterEvents {
  /** Failures that reject no promise (see {@link ClientEvents.error}). */
  error: ErrorEvent;
}

/** A listener for one event; its return value is ignored. */
export type Listener<T> = (event: T) => void;

/** Turns anything thrown into an Error, keeping the original as `cause`. */
export function toError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown), { cause: thrown });
}

/**
 * A small typed event emitter. Listeners run synchronously in the order they were added.
 * A listener that throws does not stop the others: the error is emitted as an `"error"`
 * event, or written to `console.error` when it came from an `"error"` listener or no
 * `"error"` listener exists. An `"error"` event with no listener also goes to `console.error`,
 * as one line without the stack, so nothing is dropped silently; the same error again right
 * after (a reconnect loop failing the same way) is not repeated.
 */
export class Emitter<Events extends EmitterEvents> {
  private readonly listeners: { [K in keyof Events]?: Set<Listener<Events[K]>> } = {};
  /** The last error written for want of a listener, so a run of the same one is written once. */
  private lastUnhandled: string | undefined;

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners[name];
    if (set === undefined) {
      set = new Set();
      this.listeners[name] = set;
    }
    set.add(listener);
    return () => this.off(name, listener);
  }

  /** Adds a listener that runs at most once; returns a function that removes it. */
  once<K extends keyof Events>(name: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(name, (event) => {
      off();
      listener(event);
    });
    return off;
  }

  /** Removes a listener added with {@link Emitter.on}; removing an unknown one is a no-op. */
  off<K extends keyof Events>(name: K, listener: Listener<Events[K]>): void {
    this.listeners[name]?.delete(listener);
  }

  /** How many listeners an event has. */
  listenerCount(name: keyof Events): number {
    return this.listeners[name]?.size ?? 0;
  }

  /** Calls every listener of `name` with `event`. Never throws. */
  protected emit<K extends keyof Events>(name: K, event: Events[K]): void {
    const set = this.listeners[name];
    if (set === undefined || set.size === 0) {
      if (name === "error") this.reportUnhandled((event as ErrorEvent).error);
      return;
    }
    // A copy, so listeners added or removed during this emit do not change who runs now.
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch (thrown) {
        this.reportListenerError(name, thrown);
      }
    }
  }

  private reportUnhandled(error: Error): void {
    const line = `${error.name}: ${error.message}`;
    if (line === this.lastUnhandled) return;
    this.lastUnhandled = line;
    console.error(`hubcast: ${line} (no "error" listener; the same error again is not shown)`);
  }

  private reportListenerError(name: keyof Events, thrown: unknown): void {
    const error = toError(thrown);
    if (name === "error" || this.listenerCount("error") === 0) {
      console.error(`hubcast: a "${String(name)}" listener threw`, error);
      return;
    }
    // Events["error"] is ErrorEvent or a subtype with the same required field.
    this.emit("error", { error } as Events["error"]);
  }
}
