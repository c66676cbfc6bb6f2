import { randomUUID } from "node:crypto";
import { createServer, request } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@hubcast/client";
import type { ClientOptions, PublicationPush, Subscription } from "@hubcast/client";
import { WebSocket } from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TEST_NAMESPACES } from "../../../../test/support/nodes.js";
import { withTimeout } from "../../../../test/support/raw-client.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { SwitchProxy } from "../../../../test/support/switch-proxy.js";
import { createNode } from "../node.js";
import type { HubcastNode } from "../node.js";

const WAIT_MS = 10_000;

/**
 * An HTTP forwarder in front of one node that records each request's path and the node's
 * answer: where the client's POSTs went, and that the node forwarded them (202).
 */
class RecordingForwarder {
  readonly seen: { path: string; status: number }[] = [];
  private readonly server: Server;

  constructor(target: string) {
    const { hostname, port } = new URL(target);
    this.server = createServer((req, res) => {
      const upstream = request(
        { host: hostname, port, path: req.url, method: req.method, headers: req.headers },
        (up) => {
          this.seen.push({ path: req.url ?? "", status: up.statusCode ?? 0 });
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const nextPublication = (sub: Subscription, data: unknown): Promise<PublicationPush> =>
  withTimeout(
    new Promise((resolve) => {
      const off = sub.on("publication", (p) => {
        if (JSON.stringify(p.data) === JSON.stringify(data)) {
          off();
          resolve(p);
        }
      });
    }),
    WAIT_MS,
    `publication ${JSON.stringify(data)}`,
  );

describe("the SDK over HTTP-streaming, its POSTs on another node than its stream (two nodes on Redis)", () => {
  const nodes: HubcastNode[] = [];
  const clients: Client[] = [];
  let redis: RedisServer;
  let proxy: SwitchProxy | undefined;
  let forwarder: RecordingForwarder | undefined;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.stop());
  afterEach(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await proxy?.close();
    await forwarder?.close();
    await Promise.all(nodes.splice(0).map((node) => node.close()));
  });

  const sdk = (url: string, options: ClientOptions): Client => {
    const client = new Client(url, {
      websocket: WebSocket,
      minReconnectDelayMs: 20,
      maxReconnectDelayMs: 200,
      ...options,
    });
    client.on("error", () => {}); // refused reconnects during the cut are expected
    clients.push(client);
    return client;
  };

  it("connects, subscribes, publishes, receives, and recovers after its stream is cut", async () => {
    const redisPrefix = `t-${randomUUID().slice(0, 8)}`;
    const start = async (): Promise<{ url: string; wsUrl: string }> => {
      const node = await createNode({
        ...{ engine: "redis", redisUrl: redis.url, redisPrefix },
        ...{ port: 0, logLevel: "silent", demo: false, namespaces: TEST_NAMESPACES },
      });
      nodes.push(node);
      const { url } = await node.start();
      return { url, wsUrl: `${url.replace(/^http/, "ws")}${node.options.path}` };
    };
    const a = await start();
    const b = await start();
    // The stream reaches node A through a proxy that can cut it; the POSTs go to node B.
    proxy = new SwitchProxy(a.url);
    const streamWsUrl = await proxy.start();
    forwarder = new RecordingForwarder(b.url);
    const sendBase = await forwarder.start();

    const client = sdk(streamWsUrl, { transports: ["http-stream"], emulationSendUrl: `${sendBase}/emulation/send` });
    const transports: unknown[] = [];
    client.on("transport", (event) => transports.push(event));
    const sub = client.newSubscription("chat:room");
    const subscribed = withTimeout(new Promise((resolve) => sub.once("subscribed", resolve)), WAIT_MS, "subscribed");
    sub.subscribe();
    client.connect();
    await client.ready(WAIT_MS);
    expect(client.transport).toBe("http-stream");
    expect(transports).toEqual([{ from: undefined, to: "http-stream" }]);
    await subscribed;

    const hello = nextPublication(sub, { text: "hello" });
    await client.publish("chat:room", { text: "hello" });
    await hello;
    // Every frame after connect (subscribe, publish) went to node B, which handed it to A.
    const sends = forwarder.seen.filter((r) => r.path === "/emulation/send");
    expect(sends.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sends.map((r) => r.status))).toEqual(new Set([202]));

    // A WebSocket client on node B publishes while the stream is cut; recovery brings it back.
    const other = sdk(b.wsUrl, { transports: ["websocket"] });
    other.connect();
    await other.ready(WAIT_MS);
    const resubscribed = withTimeout(
      new Promise<{ recovered?: boolean }>((resolve) => sub.once("subscribed", resolve)),
      WAIT_MS,
      "subscribed again",
    );
    const missed = nextPublication(sub, { text: "missed" });
    const lost = withTimeout(new Promise((resolve) => client.once("disconnected", resolve)), WAIT_MS, "cut");
    proxy.cut();
    expect(await lost).toMatchObject({ code: 1006, reconnect: true });
    await other.publish("chat:room", { text: "missed" });
    proxy.restore();
    await missed;
    expect((await resubscribed).recovered).toBe(true);
    expect(client.transport).toBe("http-stream");
  });
});
