import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { parseWsTarget } from "../ws/handshake.js";
import { EmulationSender } from "./sender.js";

/** What one POST's owner heard. */
const outcome = (sender: EmulationSender, url: string): Promise<string> =>
  new Promise((resolve) => {
    sender.post(parseWsTarget(url), "/send", '{"stream":"s","frames":[]}', undefined, {
      onSent: () => resolve("sent"),
      onSendFailed: (message) => resolve(message),
    });
  });

let server: Server | undefined;
let sender: EmulationSender | undefined;
afterEach(async () => {
  sender?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = sender = undefined;
});

/** A server that answers 204, but resets a connection on its request number `resetAt` (1-based). */
async function serverResetting(
  resetAt: number,
): Promise<{ url: string; resets: () => number; answered: () => number }> {
  const requestsOn = new WeakMap<object, number>();
  let resets = 0;
  let answered = 0;
  server = createServer((req, res) => {
    const n = (requestsOn.get(req.socket) ?? 0) + 1;
    requestsOn.set(req.socket, n);
    if (n === resetAt) {
      resets += 1;
      req.socket.resetAndDestroy(); // what the client sees when the server closed it as idle
      return;
    }
    answered += 1;
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, resets: () => resets, answered: () => answered };
}

describe("bench emulation sender", () => {
  it("sends a POST again when a kept-alive socket was reset under it, and counts no failure", async () => {
    const s = await serverResetting(2);
    sender = new EmulationSender();
    expect(await outcome(sender, s.url)).toBe("sent");
    // The pooled socket is reused and reset; the retry goes out on a new one.
    expect(await outcome(sender, s.url)).toBe("sent");
    expect(s.resets()).toBe(1);
    expect(s.answered()).toBe(2);
  });

  it("reports a reset on a new socket: the server had the request", async () => {
    const s = await serverResetting(1);
    sender = new EmulationSender();
    expect(await outcome(sender, s.url)).toBe("send failed: ECONNRESET");
    expect(s.resets()).toBe(1);
    expect(s.answered()).toBe(0);
  });
});
