import { createConnection, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { joinSockets } from "./pipe.js";

interface Backend {
  host: string;
  port: number;
  healthy: boolean;
}

/**
 * A small TCP load balancer for tests, standing in for nginx or HAProxy: round robin over the
 * backends whose `/readyz` answered 200 at the last health check (every 100 ms).
 */
export class Balancer {
  private readonly backends: Backend[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private next = 0;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.server = createServer((socket) => this.accept(socket));
    this.timer = setInterval(() => void this.checkAll(), 100);
  }

  /** Listens on a free loopback port; resolves with its ws:// URL for path `/ws`. */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/ws`;
  }

  /** Adds a backend by its http:// URL and health-checks it at once. */
  async add(url: string): Promise<void> {
    const { hostname, port } = new URL(url);
    const backend = { host: hostname, port: Number(port), healthy: false };
    this.backends.push(backend);
    await this.check(backend);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(socket: Socket): void {
    const healthy = this.backends.filter((b) => b.healthy);
    const backend = healthy[this.next++ % Math.max(1, healthy.length)];
    if (backend === undefined) {
      socket.destroy();
      return;
    }
    joinSockets(socket, createConnection({ host: backend.host, port: backend.port }), this.sockets);
  }

  private async checkAll(): Promise<void> {
    await Promise.all(this.backends.map((b) => this.check(b)));
  }

  private async check(backend: Backend): Promise<void> {
    try {
      const res = await fetch(`http://${backend.host}:${backend.port}/readyz`, { signal: AbortSignal.timeout(500) });
      backend.healthy = res.status === 200;
    } catch {
      backend.healthy = false; // refused or timed out: out of rotation until it answers again
    }
  }
}
