/** Per-test setup for SDK tests: a fresh scripted server, clients that are always closed. */
import { afterEach, beforeEach } from "vitest";
import WebSocket from "ws";
import type { ConnectResult } from "@hubcast/protocol";
import { Client } from "../src/client.js";
import type { ClientOptions } from "../src/options.js";
import { ScriptedServer } from "./scripted-server.js";
import type { Peer } from "./scripted-server.js";

/** What a test gets from {@link useHarness}. */
export interface Harness {
  /** This test's scripted server. */
  server(): ScriptedServer;
  /** A client for this test's server (fast timeouts, `ws`), disconnected after the test. */
  client(options?: ClientOptions): Client;
  /** A client that connected through a peer which accepted `connect` with `result`. */
  connected(options?: ClientOptions, result?: Partial<ConnectResult>): Promise<{ client: Client; peer: Peer }>;
}

/** Registers beforeEach/afterEach hooks in the calling test file. */
export function useHarness(): Harness {
  let server: ScriptedServer | undefined;
  const clients: Client[] = [];
  beforeEach(async () => {
    server = await ScriptedServer.start();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await server?.close();
    server = undefined;
  });
  const harness: Harness = {
    server() {
      if (server === undefined) throw new Error("no server outside a test");
      return server;
    },
    client(options = {}) {
      const client = new Client(harness.server().url, {
        websocket: WebSocket,
        // The scripted server speaks WebSocket only; fallback-transport tests choose their own.
        transports: ["websocket"],
        timeoutMs: 1000,
        minReconnectDelayMs: 5,
        maxReconnectDelayMs: 50,
        ...options,
      });
      clients.push(client);
      return client;
    },
    async connected(options, result) {
      const client = harness.client(options);
      client.connect();
      const peer = await harness.server().nextPeer();
      await peer.accept(result);
      await client.ready();
      return { client, peer };
    },
  };
  return harness;
}
