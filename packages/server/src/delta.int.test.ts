import { randomUUID } from "node:crypto";
import type { JsonValue, PublicationPush, Subscription, SubscribedEvent, WebSocketLike } from "@hubcast/client";
import { LocalCode } from "@hubcast/client";
import { Client } from "@hubcast/client/protobuf";
import { JsonCodec, ProtobufCodec } from "@hubcast/protocol";
import { createDelta } from "fossil-delta";
import { WebSocket } from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../../../test/support/eventually.js";
import { TEST_NAMESPACES, TestCluster } from "../../../test/support/nodes.js";
import { RedisServer } from "../../../test/support/redis.js";
import { scrapeFresh } from "../../../test/support/scrape.js";
import type { HubcastNode } from "./node.js";
import { createNode } from "./node.js";
import type { NodeOptions } from "./options.js";

/**
 * Delta compression end to end: real nodes (memory and Redis engines), the real SDK over real
 * sockets with permessage-deflate, both encodings. A tap under the SDK sees each frame as it
 * arrived (after inflation), and can lose or damage one to prove a delta that does not apply
 * is recovered, never shown.
 */

const NAMESPACES: NodeOptions["namespaces"] = {
  ...TEST_NAMESPACES,
  doc: { historySize: 100, allowPublish: true, allowDelta: true },
  docs: { allowPublish: true, allowDelta: true },
  nodelta: { historySize: 100, allowPublish: true },
};
/** Compress everything, deltas too, so both frame kinds cross permessage-deflate. */
const NODE_OPTIONS: NodeOptions = { namespaces: NAMESPACES, compression: true, compressionThresholdBytes: 0 };

const JSON_CODEC = new JsonCodec();
const PROTOBUF_CODEC = new ProtobufCodec();
const cluster = new TestCluster();
const clients: Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await cluster.cleanup();
});

/** A ~2 KB state document; version `n` changes a few fields of version `n - 1`. */
function state(n: number): JsonValue {
  return {
    id: "match-42",
    version: n,
    clock: { minute: 10 + n, second: (n * 7) % 60 },
    score: { home: Math.floor(n / 3), away: Math.floor(n / 4) },
    players: Array.from({ length: 22 }, (_, i) => ({
      id: `player-${i}`,
      name: `Player Number ${i}`,
      position: ["GK", "DF", "MF", "FW"][i % 4] ?? "",
      x: i === n % 22 ? n : i * 3,
      y: i * 2,
    })),
  };
}

/** Calls one of the SDK's socket handlers (typed `never`, so that any WebSocket's events fit). */
function fire(handler: WebSocketLike["onopen"], event: object): void {
  (handler as ((event: object) => void) | null)?.(event);
}

/** What a tapped socket received: each frame's kind as the codec wrote it, and its size after inflation. */
interface Received {
  kind: "full" | "delta";
  bytes: number;
}

/** What a {@link Tap} does with a publication frame: hand it on, lose it, or flip one byte of its delta's data. */
type Fate = "pass" | "lose" | "damage";

/**
 * A `ws` socket under the SDK that records publication frames and may lose or damage one (as a
 * broken proxy might): `fate` is asked about every publication frame.
 */
class Tap {
  readonly frames: Received[] = [];
  fate: (frame: Received, index: number) => Fate = () => "pass";
  sockets: WebSocket[] = [];

  readonly websocket = (() => {
    const tap = this;
    return class TappedWebSocket implements WebSocketLike {
      private readonly ws: WebSocket;
      binaryType = "arraybuffer";
      onopen: WebSocketLike["onopen"] = null;
      onmessage: WebSocketLike["onmessage"] = null;
      onclose: WebSocketLike["onclose"] = null;
      onerror: WebSocketLike["onerror"] = null;
      constructor(url: string, protocols?: string | string[]) {
        this.ws = new WebSocket(url, protocols, {
          perMessageDeflate: { clientNoContextTakeover: true, serverNoContextTakeover: true },
        });
        tap.sockets.push(this.ws);
        this.ws.on("open", () => fire(this.onopen, {}));
        this.ws.on("close", (code, reason) => fire(this.onclose, { code, reason: reason.toString() }));
        this.ws.on("error", (error) => fire(this.onerror, { error }));
        this.ws.on("message", (data: Buffer, isBinary) => {
          const frame = isBinary ? new Uint8Array(data) : data.toString();
          const passed = tap.record(frame, data.length);
          if (passed !== undefined) fire(this.onmessage, { data: passed });
        });
      }
      get readyState(): number {
        return this.ws.readyState;
      }
      send(data: string | Uint8Array): void {
        this.ws.send(data);
      }
      close(code?: number, reason?: string): void {
        this.ws.close(code, reason);
      }
    };
  })();

  /** The frame to hand on to the SDK, if any. */
  private record(frame: string | Uint8Array, bytes: number): string | Uint8Array | undefined {
    const codec = typeof frame === "string" ? JSON_CODEC : PROTOBUF_CODEC;
    const decoded = codec.decodeServerFrame(frame);
    if (decoded.kind !== "push" || decoded.push.type !== "publication") return frame;
    const { body } = decoded.push;
    const received: Received = { kind: body.delta === true ? "delta" : "full", bytes };
    const fate = this.fate(received, this.frames.length);
    this.frames.push(received);
    if (fate === "pass") return frame;
    if (fate === "lose" || !(body.rawData instanceof Uint8Array)) return undefined;
    // One byte of the first literal the delta inserts (after its first `:` command): the delta
    // still parses, rebuilds data one byte off, and only its checksum can tell.
    const damaged = new Uint8Array(body.rawData);
    const literal = damaged.indexOf(0x3a) + 1;
    damaged[literal] = (damaged[literal] ?? 0) ^ 0x01;
    const push = { type: "publication" as const, body: { ...body, rawData: damaged } };
    const encoded = codec.encodePush(push);
    return codec === JSON_CODEC ? new TextDecoder().decode(encoded) : encoded;
  }

  get deflated(): boolean {
    return this.sockets.every((ws) => ws.extensions.includes("permessage-deflate"));
  }
}

function sdk(wsUrl: string, protocol: "json" | "protobuf", tap?: Tap): Client {
  const client = new Client(wsUrl, {
    protocol,
    websocket: tap?.websocket ?? WebSocket,
    minReconnectDelayMs: 20,
    maxReconnectDelayMs: 200,
  });
  clients.push(client);
  client.connect();
  return client;
}

/** Subscribes, collecting app-visible publications; resolves with the first `subscribed` event. */
async function follow(
  client: Client,
  channel: string,
  delta: boolean,
): Promise<{ sub: Subscription; got: PublicationPush[]; subscribed: SubscribedEvent }> {
  const sub = client.newSubscription(channel, delta ? { delta: "fossil" } : {});
  const got: PublicationPush[] = [];
  sub.on("publication", (p) => got.push(p));
  const subscribed = new Promise<SubscribedEvent>((resolve) => sub.once("subscribed", resolve));
  sub.subscribe();
  return { sub, got, subscribed: await subscribed };
}

async function publishStates(publisher: Client, channel: string, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) await publisher.publish(channel, state(n));
}

const versions = (got: PublicationPush[]): unknown[] => got.map((p) => p.data);
const states = (from: number, to: number): unknown[] =>
  Array.from({ length: to - from + 1 }, (_, i) => state(from + i));

describe.each(["json", "protobuf"] as const)("delta compression over %s with permessage-deflate", (protocol) => {
  it("sends the first publication in full and the next ones as deltas; the app sees full data", async () => {
    const { node, wsUrl } = await cluster.node(NODE_OPTIONS);
    const tap = new Tap();
    const plainTap = new Tap();
    const { got, subscribed } = await follow(sdk(wsUrl, protocol, tap), "doc:a", true);
    const plain = await follow(sdk(wsUrl, protocol, plainTap), "doc:a", false);
    expect(subscribed).toMatchObject({ delta: true, recoverable: true });
    expect(plain.subscribed.delta).toBeUndefined();
    await publishStates(sdk(wsUrl, "json"), "doc:a", 1, 6);
    await eventually(() => got.length === 6 && plain.got.length === 6, 5_000, "6 publications each");
    expect(versions(got)).toEqual(states(1, 6));
    expect(got.every((p) => !("delta" in p) && !("rawData" in p))).toBe(true);
    expect(versions(plain.got)).toEqual(states(1, 6));
    expect(tap.frames.map((f) => f.kind)).toEqual(["full", "delta", "delta", "delta", "delta", "delta"]);
    expect(plainTap.frames.every((f) => f.kind === "full")).toBe(true);
    const [full, ...deltas] = tap.frames;
    for (const delta of deltas) expect(delta.bytes * 5).toBeLessThan(full?.bytes ?? 0);
    expect(tap.deflated && plainTap.deflated).toBe(true);
    // The metrics count the five deltas and the data bytes they spared (the publisher's JSON text).
    const data = (n: number): Uint8Array => new TextEncoder().encode(JSON.stringify(state(n)));
    let spared = 0;
    for (let n = 2; n <= 6; n++) spared += data(n).length - createDelta(data(n - 1), data(n)).length;
    const metrics = await scrapeFresh(node.address.url);
    expect(metrics.get("hubcast_delta_deliveries_total")).toBe(5);
    expect(metrics.get("hubcast_delta_saved_bytes_total")).toBe(spared);
  });

  it("sends everything in full where the namespace does not allow deltas, and says so", async () => {
    const { wsUrl } = await cluster.node(NODE_OPTIONS);
    const tap = new Tap();
    const { got, subscribed } = await follow(sdk(wsUrl, protocol, tap), "nodelta:a", true);
    expect(subscribed.delta).toBe(false);
    await publishStates(sdk(wsUrl, "json"), "nodelta:a", 1, 3);
    await eventually(() => got.length === 3, 5_000, "3 publications");
    expect(versions(got)).toEqual(states(1, 3));
    expect(tap.frames.map((f) => f.kind)).toEqual(["full", "full", "full"]);
  });

  it("after a reconnect recovers what it missed in full, then continues with a full publication and deltas", async () => {
    const { wsUrl } = await cluster.node(NODE_OPTIONS);
    const tap = new Tap();
    const client = sdk(wsUrl, protocol, tap);
    const { sub, got } = await follow(client, "doc:r", true);
    const publisher = sdk(wsUrl, "json");
    await publishStates(publisher, "doc:r", 1, 3);
    await eventually(() => got.length === 3, 5_000, "3 publications");
    client.disconnect();
    await publishStates(publisher, "doc:r", 4, 5);
    const resubscribed = new Promise<SubscribedEvent>((resolve) => sub.once("subscribed", resolve));
    client.connect();
    expect(await resubscribed).toMatchObject({ recovered: true, wasRecovering: true, delta: true });
    await publishStates(publisher, "doc:r", 6, 8);
    await eventually(() => got.length === 8, 5_000, "8 publications");
    expect(versions(got)).toEqual(states(1, 8));
    // 4 and 5 came in the subscribe reply; live frames start again in full.
    expect(tap.frames.map((f) => f.kind)).toEqual(["full", "delta", "delta", "full", "delta", "delta"]);
  });

  it.each([
    ["is damaged on the way (its checksum fails)", "damage"],
    ["follows a lost one (its offset shows the gap)", "lose"],
  ] as const)(
    "never shows a delta that %s: it resubscribes and recovers, exactly once and in order",
    async (_what, fate) => {
      const { wsUrl } = await cluster.node(NODE_OPTIONS);
      const tap = new Tap();
      tap.fate = (_frame, index) => (index === 2 ? fate : "pass"); // publication 3's frame
      const { sub, got } = await follow(sdk(wsUrl, protocol, tap), "doc:lost", true);
      const closes: { code: number; reason: string }[] = [];
      sub.on("subscribing", (close) => closes.push(close));
      await publishStates(sdk(wsUrl, "json"), "doc:lost", 1, 4);
      await eventually(() => got.length === 4, 5_000, "4 publications");
      expect(closes.map((c) => c.code)).toEqual([LocalCode.deltaFailed]);
      expect(closes[0]?.reason).toMatch(fate === "damage" ? /\(bad checksum\)/ : /\(offset 4 does not follow 2\)/);
      await publishStates(sdk(wsUrl, "json"), "doc:lost", 5, 6);
      await eventually(() => got.length === 6, 5_000, "6 publications");
      expect(versions(got)).toEqual(states(1, 6));
      expect(got.map((p) => p.offset)).toEqual([1, 2, 3, 4, 5, 6]);
    },
  );
});

describe("delta compression over the SDK's HTTP-streaming transport", () => {
  it("sends deltas on the stream too, and the app sees full data", async () => {
    const { node, wsUrl } = await cluster.node(NODE_OPTIONS);
    const client = new Client(wsUrl, {
      transports: ["http-stream"],
      minReconnectDelayMs: 20,
      maxReconnectDelayMs: 200,
    });
    clients.push(client);
    const transports: unknown[] = [];
    client.on("transport", (event) => transports.push(event.to));
    client.connect();
    const { got, subscribed } = await follow(client, "doc:stream", true);
    expect(subscribed).toMatchObject({ delta: true });
    await publishStates(sdk(wsUrl, "json"), "doc:stream", 1, 4);
    await eventually(() => got.length === 4, 5_000, "4 publications");
    expect(versions(got)).toEqual(states(1, 4));
    expect(transports).toEqual(["http-stream"]);
    // The stream carried the last three as deltas: the node counted them.
    expect((await scrapeFresh(node.address.url)).get("hubcast_delta_deliveries_total")).toBe(3);
  });
});

describe("delta compression: the edges", () => {
  it("works in a channel without history, and refuses an unknown delta type with 107", async () => {
    const { wsUrl } = await cluster.node(NODE_OPTIONS);
    const tap = new Tap();
    const { got, subscribed } = await follow(sdk(wsUrl, "json", tap), "docs:a", true);
    expect(subscribed).toMatchObject({ delta: true, recoverable: false });
    await publishStates(sdk(wsUrl, "json"), "docs:a", 1, 3);
    await eventually(() => got.length === 3, 5_000, "3 publications");
    expect(versions(got)).toEqual(states(1, 3));
    expect(tap.frames.map((f) => f.kind)).toEqual(["full", "delta", "delta"]);

    const raw = await cluster.client(wsUrl);
    expect(await raw.fails("subscribe", { channel: "doc:a", delta: "gzip" })).toEqual({
      code: 107,
      message: 'subscribe: field "delta" must be one of "fossil"',
      temporary: false,
    });
    expect(() =>
      new Client(wsUrl, { websocket: WebSocket }).newSubscription("doc:a", { delta: "xz" as "fossil" }),
    ).toThrow(/delta must be "fossil"/);
  });
});

describe("delta compression across nodes on one Redis", () => {
  let redis: RedisServer;
  const nodes: HubcastNode[] = [];
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await Promise.all(nodes.splice(0).map((n) => n.close()));
  });
  afterAll(() => redis.stop());

  async function redisNode(prefix: string): Promise<string> {
    const options = {
      port: 0,
      logLevel: "silent",
      demo: false,
      engine: "redis",
      redisUrl: redis.url,
      redisPrefix: prefix,
    };
    const node = await createNode({ ...NODE_OPTIONS, ...options });
    nodes.push(node);
    const { url } = await node.start();
    return `${url.replace(/^http/, "ws")}${node.options.path}`;
  }

  it.each(["json", "protobuf"] as const)(
    "%s: a subscriber on node B gets deltas of publications made on node A, data exact",
    async (protocol) => {
      const prefix = `t-${randomUUID().slice(0, 8)}`;
      const [a, b] = [await redisNode(prefix), await redisNode(prefix)];
      const tap = new Tap();
      const { got, subscribed } = await follow(sdk(b, protocol, tap), "doc:x", true);
      expect(subscribed.delta).toBe(true);
      await publishStates(sdk(a, "json"), "doc:x", 1, 6);
      await eventually(() => got.length === 6, 5_000, "6 publications");
      expect(versions(got)).toEqual(states(1, 6));
      expect(tap.frames.map((f) => f.kind)).toEqual(["full", "delta", "delta", "delta", "delta", "delta"]);
    },
  );
});
