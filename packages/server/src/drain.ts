import { CloseCode } from "@hubcast/protocol";
import type { Session } from "./session.js";

/**
 * Asks every session to reconnect elsewhere (close 3000, `reconnect: true`), each at a random
 * moment within `windowMs`, so the remaining nodes are not stampeded. One timer for all.
 * Resolves when every session has been asked (sessions that close by themselves count).
 */
export function drainSessions(sessions: ReadonlySet<Session>, windowMs: number, random: () => number = Math.random): Promise<void> {
  const startedAt = Date.now();
  // The last 10% of the window is left for clients to answer the close frame.
  const spreadMs = windowMs * 0.9;
  const schedule = [...sessions].map((session) => ({ session, at: startedAt + random() * spreadMs })).sort((a, b) => a.at - b.at);
  let next = 0;
  return new Promise((resolve) => {
    const tick = (): void => {
      const now = Date.now();
      while (next < schedule.length && (schedule[next]?.at ?? 0) <= now) {
        schedule[next]?.session.close(CloseCode.shutdown);
        next += 1;
      }
      if (next >= schedule.length) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, Math.max(10, Math.min(100, Math.floor(spreadMs / 50))));
    tick();
  });
}
