import type { Emitter, EmitterEvents } from "./emitter.js";
import { TimeoutError } from "./errors.js";

/** What {@link waitUntil} waits for. */
export interface WaitOptions<Events, R extends keyof Events, J extends keyof Events> {
  /** Give up after this long with a TimeoutError. */
  timeoutMs: number;
  /** Names the awaited thing in the timeout message. */
  what: string;
  /** The event that resolves the wait. */
  resolveOn: R;
  /** The event that may reject the wait. */
  rejectOn: J;
  /** The error to reject with for a `rejectOn` event; `undefined` keeps waiting. */
  toError: (event: Events[J]) => Error | undefined;
}

/**
 * Resolves on the next `resolveOn` event, rejects when `toError` turns a `rejectOn` event
 * into an error, or with a {@link TimeoutError} after `timeoutMs`. Listeners and the timer
 * are removed once it settles.
 */
export function waitUntil<Events extends EmitterEvents, R extends keyof Events, J extends keyof Events>(
  emitter: Emitter<Events>,
  options: WaitOptions<Events, R, J>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const finish = (error: Error | undefined): void => {
      clearTimeout(timer);
      offResolve();
      offReject();
      if (error === undefined) resolve();
      else reject(error);
    };
    const timer = setTimeout(() => {
      finish(new TimeoutError(`${options.what} not ready within ${options.timeoutMs}ms`));
    }, options.timeoutMs);
    const offResolve = emitter.on(options.resolveOn, () => finish(undefined));
    const offReject = emitter.on(options.rejectOn, (event) => {
      const error = options.toError(event);
      if (error !== undefined) finish(error);
    });
  });
}
