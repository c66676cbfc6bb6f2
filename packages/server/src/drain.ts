import { CloseCode } from "@hubcast/protocol";
import type { Session } from "./session.js";

/** How {@link drainSessions} closes its sessions. */
export interface DrainOptions {
  /** The close reason the clients see. @default "shutdown" */
  reason?: string;
  /** Checked before each close: true stops the drain, leaving the sessions not yet asked alone. @default never */
  cancelled?: () => boolean;
  /** Source of uniform numbers in [0, 1), for tests. @default Math.random */
  random?: () => number;
}

/**
 * Asks every session to reconnect elsewhere (close 3000, `reconnect: true`), each at a random
 * moment within `windowMs`, so the remaining nodes are not stampeded. One timer for all.
 * Resolves when every session has been asked (sessions that close by themselves count), or
 * when `cancelled` turns true.
 */
export function drainSessions(
  sessions: ReadonlySet<Session>,
  windowMs: number,
  options: DrainOptions = {},
): Promise<void> {
  const { reason, cancelled = () => false, random = Math.random } = options;
  const startedAt = Date.now();
  // The last 10% of the window is left for clients to answer the close frame.
  const spreadMs = windowMs * 0.9;
  const schedule = [...sessions]
    .map((session) => ({ session, at: startedAt + random() * spreadMs }))
    .sort((a, b) => a.at - b.at);
  let next = 0;
  return new Promise((resolve) => {
    const tick = (): void => {
      const now = Date.now();
      while (next < schedule.length && (schedule[next]?.at ?? 0) <= now && !cancelled()) {
        schedule[next]?.session.close(CloseCode.shutdown, reason);
        next += 1;
      }
      if (next >= schedule.length || cancelled()) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, Math.max(10, Math.min(100, Math.floor(spreadMs / 50))));
    tick();
  });
}
