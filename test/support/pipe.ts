import type { Socket } from "node:net";
import type { WebSocket } from "ws";

/**
 * Joins two sockets both ways, as a TCP proxy does, tracking them in `open` while they live.
 * A reset or close on one side ends the pair; the other side sees a close.
 */
export function joinSockets(client: Socket, upstream: Socket, open: Set<Socket>): void {
  for (const [from, to] of [
    [client, upstream],
    [upstream, client],
  ] as const) {
    open.add(from);
    from.pipe(to);
    from.on("error", () => to.destroy());
    from.on("close", () => {
      open.delete(from);
      to.destroy();
    });
  }
}

/** Resolves once `ws` is open (listeners must already be attached: a server may push at once). */
export function opened(ws: WebSocket, wsUrl: string, timeoutMs = 5_000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for socket open to ${wsUrl}`)),
      timeoutMs,
    );
    ws.once("open", () => {
      clearTimeout(timer);
      resolve();
    });
    ws.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
