import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A page's own origin for browser tests: a static server on another loopback port than the
 * node's, serving the HTML set in {@link pages} by path (404 for the rest).
 */
export class PageSite {
  /** Path (`/page-1.html`) → HTML. */
  readonly pages = new Map<string, string>();
  private server: Server | undefined;
  private origin = "";

  /** The site's origin, `http://127.0.0.1:<port>`, once started. */
  get url(): string {
    return this.origin;
  }

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      const html = this.pages.get(req.url ?? "/");
      res.writeHead(html === undefined ? 404 : 200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(html ?? "not found");
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.origin;
  }

  close(): Promise<void> {
    const server = this.server;
    return new Promise((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  }
}
