import { createConnection, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { joinSockets } from "./pipe.js";

/**
 * A TCP proxy in front of one node at a time, standing in for a load balancer that moves a
 * client to another node: `cut()` drops every connection and refuses new ones (the client
 * retries), `switchTo()` picks the node later connections reach, `restore()` lets them through.
 */
export class SwitchProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private target: { host: string; port: number };
  private refusing = false;

  /** `httpUrl`: the node connections reach first. */
  constructor(httpUrl: string) {
    this.target = SwitchProxy.address(httpUrl);
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Listens on a free loopback port; resolves with its ws:// URL for path `/ws`. */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/ws`;
  }

  /** Connections made from now on go to the node at `httpUrl`. */
  switchTo(httpUrl: string): void {
    this.target = SwitchProxy.address(httpUrl);
  }

  /** Drops every open connection and refuses new ones until {@link restore}. */
  cut(): void {
    this.refusing = true;
    for (const socket of this.sockets) socket.destroy();
  }

  /** Accepts connections again. */
  restore(): void {
    this.refusing = false;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(socket: Socket): void {
    if (this.refusing) {
      socket.destroy();
      return;
    }
    joinSockets(socket, createConnection(this.target), this.sockets);
  }

  private static address(httpUrl: string): { host: string; port: number } {
    const { hostname, port } = new URL(httpUrl);
    return { host: hostname, port: Number(port) };
  }
}
