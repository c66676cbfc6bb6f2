import { createConnection, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { joinSockets } from "./pipe.js";

/**
 * A TCP proxy in front of the node that can cut every connection and refuse new ones, so a
 * client sees a network outage while the node (and the channel history) stays up.
 */
export class OutageProxy {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private up = true;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Listens on a free loopback port; resolves with its http URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => resolve());
    });
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Down: drops every open connection and resets new ones until up again. */
  setUp(up: boolean): void {
    this.up = up;
    if (!up) for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.setUp(false);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    if (!this.up) {
      socket.destroy();
      return;
    }
    joinSockets(socket, createConnection(this.target), this.sockets);
  }
}
