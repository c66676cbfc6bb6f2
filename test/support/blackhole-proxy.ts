import { createConnection, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";

/**
 * A TCP proxy between a node and its Redis that can blackhole the link: while blackholed,
 * every connection stays open but nothing is forwarded either way (the bytes wait in the
 * sockets, as in a network partition that TCP rides out), and a heal delivers them late.
 * This is the fault in which a command the node gave up on may still run afterwards.
 */
export class BlackholeProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private holes = false;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Listens on a free loopback port; resolves with a redis:// URL through the proxy. */
  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => resolve());
    });
    return `redis://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Stops forwarding on every connection, open ones and new ones, keeping them open. */
  blackhole(): void {
    this.holes = true;
    for (const socket of this.sockets) socket.pause();
  }

  /** Forwards again, delivering whatever waited. */
  heal(): void {
    this.holes = false;
    for (const socket of this.sockets) socket.resume();
  }

  /** Closes every connection and the listener. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const upstream = createConnection(this.target);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.sockets.add(from);
      // Forwarded by hand, not piped: pipe() would resume a paused source on its own.
      from.on("data", (chunk: Buffer) => to.write(chunk));
      from.on("error", () => to.destroy());
      from.on("close", () => {
        this.sockets.delete(from);
        to.destroy();
      });
      if (this.holes) from.pause();
    }
  }
}
