/**
 * Records the timeouts and intervals started while it is on, so a test can check that an
 * object's `close()` left none pending (unref'd ones too, which the event loop does not list).
 * Call `restore()` when done.
 */
export function trackTimers(): { pending(): number; restore(): void } {
  const live = new Set<NodeJS.Timeout>();
  const real = {
    setTimeout: globalThis.setTimeout,
    setInterval: globalThis.setInterval,
    clearTimeout: globalThis.clearTimeout,
    clearInterval: globalThis.clearInterval,
  };
  const startTimeout = (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): NodeJS.Timeout => {
    const timer = real.setTimeout(
      (...a: unknown[]) => {
        live.delete(timer);
        callback(...a);
      },
      ms,
      ...args,
    );
    live.add(timer);
    return timer;
  };
  const startInterval = (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): NodeJS.Timeout => {
    const timer = real.setInterval(callback, ms, ...args);
    live.add(timer);
    return timer;
  };
  const stop = (timer: NodeJS.Timeout | string | number | undefined): void => {
    if (typeof timer === "object") live.delete(timer);
  };
  globalThis.setTimeout = Object.assign(startTimeout, {
    __promisify__: real.setTimeout.__promisify__,
  }) as typeof setTimeout;
  globalThis.setInterval = startInterval as typeof setInterval;
  globalThis.clearTimeout = ((timer?: NodeJS.Timeout | string | number) => {
    stop(timer);
    real.clearTimeout(timer);
  }) as typeof clearTimeout;
  globalThis.clearInterval = ((timer?: NodeJS.Timeout | string | number) => {
    stop(timer);
    real.clearInterval(timer);
  }) as typeof clearInterval;
  return {
    pending: () => live.size,
    restore: () => Object.assign(globalThis, real),
  };
}
