import { createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import type { Logger } from "pino";

/** A worker the balancer can hand sockets to. */
export interface BalancerTarget {
  /** Its open connections, counting sockets handed over that it has not reported yet. */
  readonly load: number;
  /** Hands `socket` over; the socket is the worker's from now on. */
  hand(socket: Socket): void;
}

/** Sockets held while no worker is ready, at most; past it new ones are refused. */
const MAX_WAITING = 10_000;

/** The target with the least load; the first of equals. `undefined` when there is none. */
export function leastLoaded(targets: Iterable<BalancerTarget>): BalancerTarget | undefined {
  let best: BalancerTarget | undefined;
  for (const target of targets) if (best === undefined || target.load < best.load) best = target;
  return best;
}

/**
 * Least-connections balancing for a cluster primary: it accepts every connection itself,
 * without reading from it (`pauseOnConnect`), and hands the socket to the ready worker with
 * the fewest open connections. Connections that arrive while no worker is ready wait.
 */
export class LeastConnectionsBalancer {
  private readonly server: Server;
  private readonly waiting = new Set<Socket>();

  /** `targets` returns the workers ready to take sockets now. */
  constructor(
    private readonly targets: () => Iterable<BalancerTarget>,
    private readonly logger: Logger,
  ) {
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
  }

  /** Listens with a queue of `backlog`; resolves with the URL clients reach the cluster at. Rejects (EADDRINUSE, ...) when it cannot. */
  async listen(port: number, host: string, backlog: number): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ port, host, backlog }, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const bound = this.server.address() as AddressInfo;
    const shown = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
    return `http://${shown}:${bound.port}`;
  }

  /** Hands over the sockets that arrived while no worker was ready, as far as workers are ready now. */
  flush(): void {
    for (const socket of this.waiting) {
      const target = leastLoaded(this.targets());
      if (target === undefined) return;
      this.waiting.delete(socket);
      target.hand(socket);
    }
  }

  /** Stops accepting; sockets still waiting are closed. */
  async close(): Promise<void> {
    for (const socket of this.waiting) socket.destroy();
    this.waiting.clear();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const target = leastLoaded(this.targets());
    if (target !== undefined) {
      target.hand(socket);
      return;
    }
    if (this.waiting.size >= MAX_WAITING) {
      this.logger.warn(
        { waiting: this.waiting.size },
        "no worker is ready and too many connections wait: refusing one",
      );
      socket.destroy();
      return;
    }
    this.waiting.add(socket);
    // A peer may give up while it waits; the error only means the socket is gone.
    socket.on("error", (err) => this.logger.debug({ err }, "waiting connection failed"));
    socket.once("close", () => this.waiting.delete(socket));
  }
}
