import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { CloseCode } from "@hubcast/protocol";
import type { ConnectResult } from "@hubcast/protocol";
import { Client } from "../../../client/src/client.js";
import type { DisconnectedEvent } from "../../../client/src/client-events.js";
import { nextEvent } from "../../../client/test/scripted-server.js";
import { TestCluster } from "../../../../test/support/nodes.js";
import { withTimeout } from "../../../../test/support/raw-client.js";
import { TEST_SECRET, sign } from "../../../../test/support/tokens.js";

const cluster = new TestCluster();
const clients: Client[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await cluster.cleanup();
});

/** A token source for `sub` with short-lived tokens, that tells waiters about each call. */
class TokenSource {
  calls = 0;
  failing = false;
  private waiters: { when: () => boolean; resolve: () => void }[] = [];

  constructor(
    private readonly sub: string,
    private readonly ttlSeconds: number,
  ) {}

  readonly getToken = async (): Promise<string> => {
    this.calls += 1;
    this.waiters = this.waiters.filter((w) => {
      if (!w.when()) return true;
      w.resolve();
      return false;
    });
    if (this.failing) throw new Error("token service down");
    return sign({ sub: this.sub }, { ttlSeconds: this.ttlSeconds });
  };

  /** Resolves on the first call for which `when` holds. */
  called(when: () => boolean, what: string, timeoutMs = 6_000): Promise<void> {
    return withTimeout(new Promise<void>((resolve) => this.waiters.push({ when, resolve })), timeoutMs, what);
  }
}

async function start(source: TokenSource): Promise<Client> {
  // Short ping and pong periods make the node's sweep (which closes expired connections) run every 100 ms.
  const { wsUrl } = await cluster.node({
    namespaces: { chat: { allowPublish: true } },
    tokenHmacSecret: TEST_SECRET,
    pingIntervalMs: 500,
    pongTimeoutMs: 400,
  });
  const client = new Client(wsUrl, {
    websocket: WebSocket,
    getToken: source.getToken,
    minReconnectDelayMs: 5,
    maxReconnectDelayMs: 50,
    timeoutMs: 2_000,
  });
  clients.push(client);
  return client;
}

describe("SDK token lifecycle against a node", () => {
  it("refreshes before expiry without dropping the connection", async () => {
    const source = new TokenSource("alice", 2);
    const client = await start(source);
    const disconnects: DisconnectedEvent[] = [];
    client.on("disconnected", (e) => disconnects.push(e));
    const connectedEvents: ConnectResult[] = [];
    client.on("connected", (result) => connectedEvents.push(result));
    client.connect();
    await client.ready();
    const first = connectedEvents[0];
    expect(first?.expiresAt).toBeGreaterThan(Date.now());
    const originalExpiry = first?.expiresAt ?? 0;
    // Wait for a refresh that happens after the first token would have expired: the connection lived past it.
    await source.called(() => Date.now() > originalExpiry + 200, "a refresh after the original expiry");
    await client.publish("chat:a", "still here");
    expect(disconnects).toEqual([]);
    expect(connectedEvents.map((c) => c.client)).toEqual([first?.client]);
    expect(client.state).toBe("connected");
  });

  it("gets a fresh token for the reconnect after the server closed an expired connection with 3005", async () => {
    const source = new TokenSource("alice", 2);
    const client = await start(source);
    const errors: Error[] = [];
    client.on("error", ({ error }) => errors.push(error));
    client.connect();
    const firstConnect = await nextEvent(client, "connected");
    source.failing = true; // refreshes fail until the token expires
    const dropped = nextEvent(client, "disconnected", undefined, 6_000);
    const reconnected = nextEvent(client, "connected", undefined, 8_000);
    const disconnect = await dropped;
    expect(disconnect).toMatchObject({ code: CloseCode.tokenExpired, reconnect: true });
    expect(errors.length).toBeGreaterThan(0); // each failed refresh was reported, then retried
    expect(errors.some((e) => e.message === "token service down")).toBe(true);
    source.failing = false;
    const secondConnect = await reconnected;
    expect(secondConnect.client).not.toBe(firstConnect.client);
    expect(secondConnect.expiresAt).toBeGreaterThan(Date.now());
  });
});
