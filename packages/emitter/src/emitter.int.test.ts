import { randomUUID } from "node:crypto";
import type { JsonValue } from "@hubcast/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ChannelOptions } from "../../server/src/channels.js";
import { createNode } from "../../server/src/node.js";
import type { HubcastNode } from "../../server/src/node.js";
import { RawClient } from "../../../test/support/raw-client.js";
import { RedisCluster } from "../../../test/support/redis-cluster.js";
import { RedisServer, freePort } from "../../../test/support/redis.js";
import { FIRST_CONNECT_TIMEOUT_MS, RedisUnavailableError } from "./connection.js";
import type { RedisTarget } from "./connection.js";
import { InvalidDataError, RedisEmitter } from "./emitter.js";
import { PublishDeadlineError } from "./publish.js";

interface Position {
  offset: number;
  epoch: string;
}
interface PublicationPush {
  channel: string;
  data: unknown;
  offset?: number;
  info?: unknown;
}

/** The nodes' namespaces; the emitter is given the same object, as its docs ask. */
const NAMESPACES: Record<string, ChannelOptions> = {
  chat: { historySize: 100, allowPublish: true },
  plain: { allowPublish: true },
};

let redis: RedisServer;
let cluster: RedisCluster;
beforeAll(async () => {
  // One after the other, so a failing start leaves only what afterAll can see and stop.
  redis = await RedisServer.start();
  cluster = await RedisCluster.start(3);
}, 40_000);
afterAll(async () => {
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

const emitters: RedisEmitter[] = [];
const nodes: HubcastNode[] = [];
const clients: RawClient[] = [];
/** Connection errors the emitters reported; none are expected while Redis is up. */
const redisErrors: Error[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  await Promise.all(emitters.splice(0).map((e) => e.close()));
  expect(redisErrors.splice(0).map((err) => err.message)).toEqual([]);
});

/** A node and an emitter on `target` under one fresh prefix, and a client connected to the node. */
async function setup(target: RedisTarget): Promise<{ emitter: RedisEmitter; client: RawClient }> {
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const node = await createNode({
    engine: "redis",
    ...("url" in target ? { redisUrl: target.url } : { redisCluster: target.clusterUrls.join(",") }),
    redisPrefix: prefix,
    port: 0,
    logLevel: "silent",
    demo: false,
    namespaces: NAMESPACES,
  });
  nodes.push(node);
  const { url } = await node.start();
  const emitter = await RedisEmitter.connect(target, {
    prefix,
    namespaces: NAMESPACES,
    onError: (err) => redisErrors.push(err),
  });
  emitters.push(emitter);
  const client = await RawClient.connected(`${url.replace(/^http/, "ws")}${node.options.path}`);
  clients.push(client);
  return { emitter, client };
}

/** An emitter on the private Redis under a fresh prefix, closed after the test. */
async function connectEmitter(): Promise<RedisEmitter> {
  const emitter = await RedisEmitter.connect(
    { url: redis.url },
    { prefix: `t-${randomUUID().slice(0, 8)}`, namespaces: NAMESPACES, onError: (err) => redisErrors.push(err) },
  );
  emitters.push(emitter);
  return emitter;
}

describe("RedisEmitter", () => {
  it("publishes into a channel with history, in one gap-free offset sequence with node publications", async () => {
    const { emitter, client } = await setup({ url: redis.url });
    const { position: start } = await client.ok<{ position: Position }>("subscribe", { channel: "chat:mix" });
    const positions: (Position | undefined)[] = [];
    for (let i = 1; i <= 6; i++) {
      if (i % 2 === 1)
        positions.push(await emitter.publish("chat:mix", { from: "emitter", i, text: "line\nbreak ünïcode" }));
      else
        positions.push(
          (await client.ok<{ position?: Position }>("publish", { channel: "chat:mix", data: { from: "node", i } }))
            .position,
        );
    }
    expect(positions).toEqual([1, 2, 3, 4, 5, 6].map((offset) => ({ offset, epoch: start.epoch })));

    const pushes = await client.waitForPushes<PublicationPush>("publication", 6, "chat:mix");
    expect(pushes.map((p) => p.offset)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(pushes[0]).toEqual({
      channel: "chat:mix",
      offset: 1,
      data: { from: "emitter", i: 1, text: "line\nbreak ünïcode" },
    });
    expect(pushes.map((p) => (p.data as { from: string }).from)).toEqual([
      "emitter",
      "node",
      "emitter",
      "node",
      "emitter",
      "node",
    ]);

    const history = await client.ok<{ publications: PublicationPush[]; position: Position }>("history", {
      channel: "chat:mix",
    });
    expect(history.position).toEqual({ offset: 6, epoch: start.epoch });
    expect(history.publications.map((p) => p.data)).toEqual(pushes.map((p) => p.data));
    expect(history.publications.map((p) => p.offset)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("starts the channel's position when the emitter publishes first, and nodes continue it", async () => {
    const { emitter, client } = await setup({ url: redis.url });
    const first = await emitter.publish("chat:fresh", "first");
    expect(first?.offset).toBe(1);
    const sub = await client.ok<{ position: Position; recovered: boolean; publications: PublicationPush[] }>(
      "subscribe",
      {
        channel: "chat:fresh",
        since: { offset: 0, epoch: first?.epoch },
      },
    );
    expect(sub).toMatchObject({ recovered: true, position: first, publications: [{ data: "first", offset: 1 }] });
  });

  it("publishes without a position into a namespace without history, still delivered", async () => {
    const { emitter, client } = await setup({ url: redis.url });
    await client.ok("subscribe", { channel: "plain:news" });
    expect(await emitter.publish("plain:news", { n: 1 })).toBeUndefined();
    expect(await emitter.publishEncoded("plain:news", new TextEncoder().encode('{"n":2}'))).toBeUndefined();
    const pushes = await client.waitForPushes<PublicationPush>("publication", 2, "plain:news");
    expect(pushes).toEqual([
      { channel: "plain:news", data: { n: 1 } },
      { channel: "plain:news", data: { n: 2 } },
    ]);
  });

  it.each(["one server", "a cluster"])(
    "publishes once per idempotency key, whoever repeats it, with history and without (%s)",
    async (where) => {
      const { emitter, client } = await setup(
        where === "one server" ? { url: redis.url } : { clusterUrls: cluster.urls },
      );
      await client.ok("subscribe", { channel: "chat:once" });
      await client.ok("subscribe", { channel: "plain:once" });
      const first = await emitter.publish("chat:once", "x", { idempotencyKey: "k-1" });
      expect(await emitter.publish("chat:once", "again", { idempotencyKey: "k-1" })).toEqual(first);
      expect(
        (
          await client.ok<{ position?: Position }>("publish", {
            channel: "chat:once",
            data: "again",
            idempotencyKey: "k-1",
          })
        ).position,
      ).toEqual(first);
      // The same key in another channel is another publication.
      expect(await emitter.publish("chat:other", "y", { idempotencyKey: "k-1" })).toMatchObject({ offset: 1 });
      for (let i = 0; i < 2; i++)
        expect(await emitter.publish("plain:once", "p", { idempotencyKey: "k-1" })).toBeUndefined();
      await emitter.publish("chat:once", "marker");
      await emitter.publish("plain:once", "marker");
      const withHistory = await client.waitForPushes<PublicationPush>("publication", 2, "chat:once");
      const without = await client.waitForPushes<PublicationPush>("publication", 2, "plain:once");
      expect(withHistory.map((p) => p.data)).toEqual(["x", "marker"]);
      expect(without.map((p) => p.data)).toEqual(["p", "marker"]);
    },
  );

  it("refuses a publish that Redis runs after its deadline, by Redis's clock, and keeps nothing", async () => {
    const { emitter, client } = await setup({ url: redis.url });
    await client.ok("subscribe", { channel: "plain:late" });
    const deadline = Date.now() - 1;
    await expect(emitter.publish("chat:late", "late", { deadline, idempotencyKey: "k" })).rejects.toBeInstanceOf(
      PublishDeadlineError,
    );
    await expect(emitter.publish("plain:late", "late", { deadline })).rejects.toBeInstanceOf(PublishDeadlineError);
    // The refused key stays unused: the retry is made.
    expect(await emitter.publish("chat:late", "retry", { idempotencyKey: "k" })).toMatchObject({ offset: 1 });
    await emitter.publish("plain:late", "marker");
    expect((await client.waitForPushes<PublicationPush>("publication", 1, "plain:late")).map((p) => p.data)).toEqual([
      "marker",
    ]);
  });

  it("rejects a channel whose namespace it was not given, naming the namespace", async () => {
    const emitter = await connectEmitter();
    await expect(emitter.publish("nope:x", 1)).rejects.toThrow(
      new TypeError('namespace "nope" is not in the emitter\'s namespaces'),
    );
  });

  it.each(["toString", "constructor", "__proto__"])(
    "rejects namespace %s, an Object.prototype key, like any other missing one",
    async (namespace) => {
      const emitter = await connectEmitter();
      await expect(async () => emitter.publish(`${namespace}:x`, 1)).rejects.toThrow(`namespace "${namespace}"`);
    },
  );

  it("leaves a node delivering after a message it cannot read on a channel's pub/sub channel", async () => {
    const prefix = `t-${randomUUID().slice(0, 8)}`;
    const node = await createNode({
      engine: "redis",
      redisUrl: redis.url,
      redisPrefix: prefix,
      port: 0,
      logLevel: "silent",
      demo: false,
      namespaces: NAMESPACES,
    });
    nodes.push(node);
    const { url } = await node.start();
    const client = await RawClient.connected(`${url.replace(/^http/, "ws")}${node.options.path}`);
    clients.push(client);
    await client.ok("subscribe", { channel: "plain:g" });
    // Anyone with access to Redis can publish there; info that is not JSON is not a Hubcast message.
    expect(await redis.cli("publish", `${prefix}:{plain:g}:pub`, "p\n\n{not json\n1")).toBe("1");
    await client.ok("publish", { channel: "plain:g", data: "after" });
    const pushes = await client.waitForPushes<PublicationPush>("publication", 1, "plain:g");
    expect(pushes.map((p) => p.data)).toEqual(["after"]);
  });

  it("publishes through a Redis Cluster to a node on the cluster", async () => {
    const { emitter, client } = await setup({ clusterUrls: cluster.urls });
    const channels = Array.from({ length: 12 }, (_, i) => `chat:k${i}`);
    for (const channel of channels) await client.ok("subscribe", { channel });
    for (const channel of channels) {
      expect(await emitter.publish(channel, `${channel}/1`)).toMatchObject({ offset: 1 });
      expect(
        (await client.ok<{ position: Position }>("publish", { channel, data: `${channel}/2` })).position.offset,
      ).toBe(2);
      expect(await emitter.publish(channel, `${channel}/3`)).toMatchObject({ offset: 3 });
    }
    await client.ok("subscribe", { channel: "plain:c" });
    expect(await emitter.publish("plain:c", "no history")).toBeUndefined();
    await client.waitForPushes("publication", channels.length * 3 + 1);
    for (const channel of channels) {
      const pubs = client.pushes<PublicationPush>("publication", channel);
      expect(pubs.map((p) => p.data)).toEqual([`${channel}/1`, `${channel}/2`, `${channel}/3`]);
      expect(pubs.map((p) => p.offset)).toEqual([1, 2, 3]);
    }
    expect(client.pushes("publication", "plain:c")).toEqual([{ channel: "plain:c", data: "no history" }]);
  });

  it(
    "rejects connect with RedisUnavailableError when nothing listens",
    async () => {
      const port = await freePort();
      const errors: Error[] = [];
      const connecting = RedisEmitter.connect(
        { url: `redis://127.0.0.1:${port}` },
        { onError: (err) => errors.push(err) },
      );
      await expect(connecting).rejects.toBeInstanceOf(RedisUnavailableError);
      await expect(connecting).rejects.toMatchObject({
        code: "REDIS_UNAVAILABLE",
        message: expect.stringContaining(`127.0.0.1:${port}`),
      });
      expect(errors.length).toBeGreaterThan(0);
    },
    FIRST_CONNECT_TIMEOUT_MS + 5_000,
  );
});

describe("RedisEmitter data limits", () => {
  const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
  const nestedText = (depth: number): string => `${"[".repeat(depth)}${"]".repeat(depth)}`;

  it("refuses data past maxDataDepth or maxDataBytes, or not UTF-8 JSON, writing nothing", async () => {
    const emitter = await RedisEmitter.connect(
      { url: redis.url },
      {
        prefix: `t-${randomUUID().slice(0, 8)}`,
        namespaces: NAMESPACES,
        maxDataDepth: 3,
        maxDataBytes: 100,
        onError: (err) => redisErrors.push(err),
      },
    );
    emitters.push(emitter);
    const deep = JSON.parse(nestedText(20_000)) as JsonValue;
    const tooDeep = "data nests arrays/objects deeper than 3 levels (maxDataDepth)";
    await expect(emitter.publish("chat:x", deep)).rejects.toThrow(new InvalidDataError(tooDeep));
    await expect(emitter.publishEncoded("chat:x", utf8(nestedText(4)))).rejects.toMatchObject({
      name: "InvalidDataError",
      code: 107,
      message: tooDeep,
    });
    await expect(emitter.publishEncoded("chat:x", utf8("not json"))).rejects.toThrow(
      new InvalidDataError("data is not JSON text"),
    );
    await expect(emitter.publishEncoded("chat:x", new Uint8Array([0x22, 0xff, 0x22]))).rejects.toThrow(
      new InvalidDataError("data is not valid UTF-8"),
    );
    await expect(emitter.publish("chat:x", "x".repeat(99))).rejects.toThrow(
      new InvalidDataError("data is 101 bytes of JSON text; the limit is 100 (maxDataBytes)"),
    );
    // Nothing above reached Redis: the first accepted publication is offset 1.
    expect(await emitter.publish("chat:x", [[[1]]])).toMatchObject({ offset: 1 });
  });

  it.each([
    [{ maxDataDepth: 0 }, "maxDataDepth must be an integer from 1 to 512, got 0"],
    [{ maxDataDepth: 513 }, "maxDataDepth must be an integer from 1 to 512, got 513"],
    [{ maxDataBytes: 0.5 }, "maxDataBytes must be an integer from 1 to 9007199254740991, got 0.5"],
  ])("throws a TypeError for %o before connecting", async (options, message) => {
    await expect(RedisEmitter.connect({ url: redis.url }, options)).rejects.toThrow(new TypeError(message));
  });
});
