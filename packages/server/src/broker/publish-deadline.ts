import { PublishExpiredError, PublishOutcomeUnknownError } from "./broker.js";
import type { PublishOptions } from "./broker.js";

/** Throws {@link PublishExpiredError} when `options.deadline` has passed by `now`. */
export function refuseExpired(options: PublishOptions | undefined, now: number): void {
  if (options?.deadline !== undefined && now > options.deadline) {
    throw new PublishExpiredError(
      `the publish reached the engine ${now - options.deadline} ms after its deadline; it was not made`,
    );
  }
}

/**
 * Settles with `call`, or rejects with {@link PublishOutcomeUnknownError} once
 * `options.deadline` passes without an answer: the engine refuses the publish after its
 * deadline, so the caller need not wait longer to know it will not be made later.
 * `notMade` tells failures known to leave nothing published (nothing was sent, or the engine
 * answered with an error), kept as they are, from the rest, reported as outcome unknown.
 */
export async function withinDeadline<T>(
  call: Promise<T>,
  options: PublishOptions | undefined,
  notMade: (err: unknown) => boolean,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const sources: Promise<T>[] = [call];
  if (options?.deadline !== undefined) {
    const remainingMs = Math.max(0, options.deadline - Date.now());
    sources.push(
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new PublishOutcomeUnknownError(`no answer from the engine by the publish deadline (${remainingMs} ms)`),
            ),
          remainingMs,
        );
      }),
    );
  }
  call.catch(() => undefined); // a failure after the deadline has been answered already
  try {
    return await Promise.race(sources);
  } catch (err) {
    if (err instanceof PublishExpiredError || err instanceof PublishOutcomeUnknownError || notMade(err)) throw err;
    throw new PublishOutcomeUnknownError(
      `the publish may or may not have been made: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  } finally {
    clearTimeout(timer);
  }
}
