import { randomUUID } from "node:crypto";
import type { PresenceChannel } from "pusher-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsServer } from "../../../../test/support/nats.js";
import { ServerProcess } from "../../../../test/support/processes.js";
import type { PusherJs } from "../../../../test/support/pusher.js";
import {
  TEST_APP,
  WebhookReceiver,
  connected,
  next,
  pusherClient,
  serverSdk,
  subscribed,
} from "../../../../test/support/pusher.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { configFile } from "../../../../test/support/redis-nodes.js";

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
  let receiver: WebhookReceiver;
  let nodes: ServerProcess[];
  const clients: PusherJs[] = [];

  beforeAll(async () => {
    backend = await start();
    receiver = new WebhookReceiver();
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
