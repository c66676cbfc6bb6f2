import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { PresenceChannel } from "pusher-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsServer } from "../../../../test/support/nats.js";
import { ServerProcess } from "../../../../test/support/processes.js";
import type { PusherJs } from "../../../../test/support/pusher.js";
import { TEST_APP, connected, next, pusherClient, serverSdk, subscribed } from "../../../../test/support/pusher.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { configFile } from "../../../../test/support/redis-nodes.js";

interface Received {
  name: string;
  channel: string;
  user_id?: string;
  event?: string;
  data?: string;
  socket_id?: string;
}

/** A backend's webhook endpoint: keeps the events of every request whose signature the real `pusher` SDK accepts. */
class Receiver {
  readonly events: Received[] = [];
  invalid = 0;
  private readonly server: Server;

  constructor() {
    const verifier = serverSdk(1);
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const rawBody = Buffer.concat(chunks).toString("utf8");
        const hook = verifier.webhook({ headers: req.headers as Record<string, string>, rawBody });
        if (hook.isValid()) this.events.push(...(hook.getEvents() as Received[]));
        else this.invalid += 1;
        res.writeHead(200).end();
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  /** The occupancy and membership events of `channel`, as `name` or `name:user`. */
  of(channel: string): string[] {
    return this.events
      .filter((e) => e.channel === channel && e.name !== "client_event")
      .map((e) => (e.user_id === undefined ? e.name : `${e.name}:${e.user_id}`));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const engines = [
  {
    name: "redis",
    start: async () => {
      const redis = await RedisServer.start();
      return { args: ["--engine", "redis", "--redis-url", redis.url], stop: () => redis.stop() };
    },
  },
  {
    name: "nats",
    start: async () => {
      const nats = await NatsServer.start();
      return { args: ["--engine", "nats", "--nats-url", nats.url], stop: () => nats.stop() };
    },
  },
];

describe.each(engines)("Pusher webhooks from two nodes on $name", ({ start }) => {
  let backend: { args: string[]; stop: () => Promise<void> };
  let receiver: Receiver;
  let nodes: ServerProcess[];
  const clients: PusherJs[] = [];

  beforeAll(async () => {
    backend = await start();
    receiver = new Receiver();
    const url = await receiver.listen();
    const app = { ...TEST_APP, webhooks: [{ url }] };
    const config = configFile({ demo: false, presenceTtlMs: 2_000, drainWindowMs: 0, pusherApps: [app] });
    const args = [
      ...backend.args,
      "--redis-prefix",
      `wh-${randomUUID().slice(0, 8)}`,
      "--port",
      "0",
      "--config",
      config,
    ];
    nodes = [];
    // One at a time: on NATS the first node creates the stream and buckets.
    for (let i = 0; i < 2; i += 1) nodes.push(await ServerProcess.start(args));
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(nodes.map((node) => node.stop()));
    await receiver.close();
    await backend.stop();
  });

  async function clientOn(i: number, user: string): Promise<PusherJs> {
    const port = nodes[i]?.port ?? 0;
    const client = pusherClient(port, serverSdk(port), { id: user });
    clients.push(client);
    await connected(client);
    return client;
  }

  it("sends occupied once, members once per user, client events, and vacated only after the last node empties", async () => {
    const ann = await clientOn(0, "ann");
    const bob = await clientOn(1, "bob");
    const { channel: annRoom } = await subscribed(ann, "presence-hooks");
    const bobJoined = next(annRoom, "pusher:member_added");
    const { channel: bobRoom } = await subscribed(bob, "presence-hooks");
    await bobJoined;
    // Decided on different nodes, webhook events may arrive in any order (as from Pusher).
    await expect
      .poll(() => receiver.of("presence-hooks").sort(), { timeout: 5_000 })
      .toEqual(["channel_occupied", "member_added:ann", "member_added:bob"]);
    const whisper = next(bobRoom, "client-hi");
    (annRoom as PresenceChannel).trigger("client-hi", { n: 1 });
    await whisper;
    await expect
      .poll(() => receiver.events.find((e) => e.name === "client_event"))
      .toMatchObject({
        channel: "presence-hooks",
        event: "client-hi",
        data: '{"n":1}',
        socket_id: ann.connection.socket_id,
        user_id: "ann",
      });

    // Ann leaves node 0; bob still holds the channel on node 1: member_removed, no vacated.
    ann.unsubscribe("presence-hooks");
    await expect.poll(() => receiver.of("presence-hooks"), { timeout: 6_000 }).toContain("member_removed:ann");
    expect(receiver.of("presence-hooks")).not.toContain("channel_vacated");
    // Bob reloads (leaves and comes back within the delay): nothing is sent for it.
    bob.unsubscribe("presence-hooks");
    await subscribed(bob, "presence-hooks");
    bob.unsubscribe("presence-hooks");
    await expect.poll(() => receiver.of("presence-hooks"), { timeout: 6_000 }).toContain("channel_vacated");
    await expect
      .poll(() => receiver.of("presence-hooks").sort(), { timeout: 6_000 })
      .toEqual([
        "channel_occupied",
        "channel_vacated",
        "member_added:ann",
        "member_added:bob",
        "member_removed:ann",
        "member_removed:bob",
      ]);
    expect(receiver.invalid).toBe(0);
  });
});
