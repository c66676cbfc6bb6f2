import { WebSocket } from "ws";

/** Resolves with `promise`, or rejects naming `what` after `timeoutMs`. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The frames a test client has received, in order, and a way to await one by shape: a match
 * among those already here, or the first future one.
 */
export class FrameInbox<F> {
  readonly frames: F[] = [];
  private waiters: { match: (frame: F) => boolean; resolve: (frame: F) => void }[] = [];

  add(frame: F): void {
    this.frames.push(frame);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(frame)) return true;
      w.resolve(frame);
      return false;
    });
  }

  waitFor(match: (frame: F) => boolean, what: string, timeoutMs = 5_000, fromIndex = 0): Promise<F> {
    const seen = this.frames.slice(fromIndex).find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return withTimeout(new Promise<F>((resolve) => this.waiters.push({ match, resolve })), timeoutMs, what);
  }
}

/** Resolves with the close code and reason once `ws` closes. */
export const whenClosed = (ws: WebSocket): Promise<{ code: number; reason: string }> =>
  new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));

/** Closes `ws`, dropping the socket if the close handshake does not finish within 2 s. */
export function closeSocket(
  ws: WebSocket,
  closed: Promise<{ code: number; reason: string }>,
): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
  return withTimeout(closed, 2_000, "close handshake").catch(() => {
    ws.terminate();
    return closed;
  });
}
