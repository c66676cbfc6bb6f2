import type { IncomingMessage } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { TestCluster } from "../../../../test/support/nodes.js";
import { withTimeout } from "../../../../test/support/raw-client.js";

const cluster = new TestCluster();
afterEach(() => cluster.cleanup());

type Outcome = { opened: true } | { opened: false; status: number; body: string };

/** Opens a WebSocket with `origin` (none when undefined) and reports whether the upgrade succeeded. */
function tryOpen(wsUrl: string, origin: string | undefined): Promise<Outcome> {
  const ws = new WebSocket(wsUrl, "hubcast.v1.json", origin === undefined ? {} : { origin });
  const outcome = new Promise<Outcome>((resolve, reject) => {
    ws.once("open", () => {
      ws.close();
      resolve({ opened: true });
    });
    ws.once("unexpected-response", (_req, res: IncomingMessage) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => resolve({ opened: false, status: res.statusCode ?? 0, body }));
    });
    ws.once("error", reject);
  });
  return withTimeout(outcome, 5_000, `upgrade with origin ${String(origin)}`);
}

describe("allowedOrigins", () => {
  it("allows listed origins and wildcard subdomains, refuses others with 403 naming the origin and the option", async () => {
    const { wsUrl } = await cluster.node({ allowedOrigins: "https://app.example.com, https://*.example.org" });
    expect(await tryOpen(wsUrl, "https://app.example.com")).toEqual({ opened: true });
    expect(await tryOpen(wsUrl, "https://chat.eu.example.org")).toEqual({ opened: true });
    for (const origin of ["https://evil.example.net", "https://example.org", "http://app.example.com"]) {
      expect(await tryOpen(wsUrl, origin)).toEqual({
        opened: false,
        status: 403,
        body: `origin "${origin}" is not allowed; add it to the allowedOrigins option`,
      });
    }
  });

  it("allows requests without an Origin header (non-browser clients)", async () => {
    const { wsUrl } = await cluster.node({ allowedOrigins: "https://app.example.com" });
    expect(await tryOpen(wsUrl, undefined)).toEqual({ opened: true });
    const client = await cluster.client(wsUrl);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("allows every origin when the list is empty", async () => {
    const { wsUrl } = await cluster.node({});
    expect(await tryOpen(wsUrl, "https://anything.test")).toEqual({ opened: true });
  });
});
