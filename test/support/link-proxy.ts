import { createConnection, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";

/** What a {@link LinkProxy} does with a connection. */
export type LinkMode = "forward" | "blackhole" | "reset";

interface Pair {
  client: Socket;
  upstream: Socket;
}

/**
 * A TCP proxy in front of one Redis that plays link faults for the node behind it: it can
 * blackhole chosen connections (stop carrying bytes either way while both sockets stay open,
 * as a dropped route or a lost NAT entry does), and blackhole or reset new connections.
 */
export class LinkProxy {
  private readonly pairs = new Set<Pair>();
  private readonly server: Server;
  private mode: LinkMode = "forward";

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Listens on a free loopback port; resolves with its redis:// URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => resolve());
    });
    return `redis://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The local ports of the proxy's connections to Redis (Redis's `CLIENT LIST` shows them as `addr`). */
  get upstreamPorts(): number[] {
    return [...this.pairs].map((p) => p.upstream.localPort ?? 0);
  }

  /** Blackholes the open connections whose upstream local port `pick` selects; returns how many. */
  blackhole(pick: (upstreamPort: number) => boolean): number {
    let count = 0;
    for (const pair of this.pairs) {
      if (!pick(pair.upstream.localPort ?? 0)) continue;
      silence(pair);
      count += 1;
    }
    return count;
  }

  /**
   * What happens from now on: `forward` carries new connections, `blackhole` accepts them and
   * carries nothing, `reset` drops every open connection and resets new ones (Redis down for this node).
   */
  setMode(mode: LinkMode): void {
    this.mode = mode;
    if (mode === "reset") for (const pair of this.pairs) destroy(pair);
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) destroy(pair);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.mode === "reset") {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection(this.target);
    const pair = { client, upstream };
    this.pairs.add(pair);
    for (const socket of [client, upstream]) {
      socket.on("error", () => destroy(pair)); // a reset on one side ends the pair
      socket.on("close", () => {
        destroy(pair);
        this.pairs.delete(pair);
      });
    }
    if (this.mode === "blackhole") {
      silence(pair);
      return;
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

function silence(pair: Pair): void {
  pair.client.unpipe(pair.upstream);
  pair.upstream.unpipe(pair.client);
  pair.client.pause();
  pair.upstream.pause();
}

function destroy(pair: Pair): void {
  pair.client.destroy();
  pair.upstream.destroy();
}
