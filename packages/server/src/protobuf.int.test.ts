import { Client } from "@hubcast/client/protobuf";
import type { PublicationPush, SubscribedEvent } from "@hubcast/client";
import { CloseCode, ErrorCode, JsonCodec, ProtobufCodec, Subprotocol } from "@hubcast/protocol";
import { WebSocket } from "ws";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TestCluster } from "../../../test/support/nodes.js";
import { OutageProxy } from "../../../test/support/outage-proxy.js";
import { ProtobufClient } from "../../../test/support/protobuf-client.js";
import { withTimeout } from "../../../test/support/raw-client.js";

const cluster = new TestCluster();
const pbClients: ProtobufClient[] = [];
const sdkClients: Client[] = [];
const proxies: OutageProxy[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const client of sdkClients.splice(0)) client.disconnect();
  await Promise.all(pbClients.splice(0).map((c) => c.close()));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await cluster.cleanup();
});

async function pbClient(wsUrl: string, connect = true): Promise<ProtobufClient> {
  const client = connect ? await ProtobufClient.connected(wsUrl) : await ProtobufClient.open(wsUrl);
  pbClients.push(client);
  return client;
}

function sdk(url: string): Client {
  const client = new Client(url, {
    websocket: WebSocket,
    protocol: "protobuf",
    minReconnectDelayMs: 20,
    maxReconnectDelayMs: 200,
  });
  client.on("error", () => undefined); // refused reconnects while the proxy is down are expected
  sdkClients.push(client);
  return client;
}

/** Resolves once `check()` holds, re-checking every 10 ms for up to 10 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** The subprotocol the node picks for a socket offering `protocols`, in that order. */
async function negotiated(wsUrl: string, protocols: string[]): Promise<string> {
  const ws = new WebSocket(wsUrl, protocols, { perMessageDeflate: false });
  await withTimeout(new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject)), 5_000, "open");
  const chosen = ws.protocol;
  ws.close();
  return chosen;
}

describe("hubcast.v1.protobuf against a real node", () => {
  it("is negotiated by subprotocol, the client's first preference winning", async () => {
    const { wsUrl } = await cluster.node();
    expect(await negotiated(wsUrl, [Subprotocol.protobuf])).toBe(Subprotocol.protobuf);
    expect(await negotiated(wsUrl, ["x-unknown", Subprotocol.protobuf, Subprotocol.json])).toBe(Subprotocol.protobuf);
    expect(await negotiated(wsUrl, [Subprotocol.json, Subprotocol.protobuf])).toBe(Subprotocol.json);
  });

  it("subscribes, publishes, reads presence and history, refreshes and unsubscribes in binary frames", async () => {
    const { wsUrl } = await cluster.node();
    const client = await pbClient(wsUrl);
    const sub = await client.ok("subscribe", { channel: "chat:pb" });
    expect(sub).toEqual({ recoverable: true, position: { offset: 0, epoch: expect.any(String) as string } });
    const published = await client.ok("publish", { channel: "chat:pb", data: { text: "hi", n: [1, 2.5, null] } });
    expect(published.position).toEqual({ offset: 1, epoch: sub.position?.epoch });
    const [pub] = await client.waitForPushes("publication", 1, "chat:pb");
    expect(pub).toMatchObject({
      channel: "chat:pb",
      offset: 1,
      data: { text: "hi", n: [1, 2.5, null] },
      info: { user: "" },
    });
    const [members] = await client.waitForPushes("members", 1, "chat:pb");
    expect(members).toEqual({ channel: "chat:pb", leaves: [], joins: [pub?.info] });

    const presence = await client.ok("presence", { channel: "chat:pb" });
    expect(Object.values(presence.clients)).toEqual([pub?.info]);
    expect(await client.ok("presence_stats", { channel: "chat:pb" })).toEqual({ numClients: 1, numUsers: 1 });
    const history = await client.ok("history", { channel: "chat:pb", limit: 5, reverse: true });
    expect(history).toEqual({
      publications: [{ data: { text: "hi", n: [1, 2.5, null] }, offset: 1, info: pub?.info }],
      position: published.position,
    });
    expect(await client.fails("refresh", { token: "t" })).toMatchObject({
      code: ErrorCode.notAvailable,
      temporary: false,
    });
    expect(await client.fails("subscribe", { channel: "nope:x" })).toMatchObject({ code: ErrorCode.unknownChannel });
    expect(await client.ok("unsubscribe", { channel: "chat:pb" })).toEqual({});
    expect(client.undecodable).toEqual([]);
  });

  it("recovers what a resubscribing client missed, from its last position", async () => {
    const { wsUrl } = await cluster.node();
    const publisher = await pbClient(wsUrl);
    const first = await publisher.ok("publish", { channel: "chat:gap", data: 1 });
    for (let i = 2; i <= 4; i++) await publisher.ok("publish", { channel: "chat:gap", data: i });
    const late = await pbClient(wsUrl);
    const since = first.position ?? { offset: -1, epoch: "missing" };
    const result = await late.ok("subscribe", { channel: "chat:gap", since });
    expect(result).toEqual({
      recoverable: true,
      position: { offset: 4, epoch: since.epoch },
      recovered: true,
      publications: [2, 3, 4].map((data) => ({
        data,
        offset: data,
        info: expect.objectContaining({ user: "" }) as unknown,
      })),
    });
    const gone = await late.ok("subscribe", { channel: "small:x", since: { offset: 3, epoch: "gone" } });
    expect(gone).toMatchObject({ recovered: false, publications: [] });
  });

  it("delivers the same data to JSON and Protobuf subscribers, whichever encoding published it", async () => {
    const { wsUrl } = await cluster.node();
    const jsonSub = await cluster.client(wsUrl);
    const jsonText: string[] = [];
    jsonSub.ws.on("message", (data) => jsonText.push(String(data)));
    const pbSub = await pbClient(wsUrl);
    await jsonSub.ok("subscribe", { channel: "plain:mixed" });
    await pbSub.ok("subscribe", { channel: "plain:mixed" });

    const pbPublisher = await pbClient(wsUrl);
    const spaced = ' { "price" : 1.50, "tags" : ["é", null] } ';
    await pbPublisher.ok("publish", { channel: "plain:mixed", data: null });
    // Hand-built frame: the Protobuf data bytes are whatever JSON text the client chose.
    pbPublisher.sendRaw(rawPublish(50, "plain:mixed", utf8(spaced)));
    await pbPublisher.waitFor((f) => f.kind === "reply" && f.reply.id === 50, "publish reply");
    await (await cluster.client(wsUrl)).ok("publish", { channel: "plain:mixed", data: { from: "json", list: [1, 2] } });

    const expected = [null, { price: 1.5, tags: ["é", null] }, { from: "json", list: [1, 2] }];
    const viaJson = await jsonSub.waitForPushes<{ data: unknown }>("publication", 3, "plain:mixed");
    const viaPb = await pbSub.waitForPushes("publication", 3, "plain:mixed");
    expect(viaJson.map((p) => p.data)).toEqual(expected);
    expect(viaPb.map((p) => p.data)).toEqual(expected);
    // The Protobuf publisher's bytes reach JSON subscribers as they were sent: no re-encoding.
    expect(jsonText.some((text) => text.endsWith(`"data":${spaced}}}`))).toBe(true);
  });

  it("refuses publish data that is not JSON text with bad_request and keeps the connection", async () => {
    const { wsUrl } = await cluster.node();
    const client = await pbClient(wsUrl);
    client.sendRaw(rawPublish(9, "plain:x", utf8("not json")));
    const frame = await client.waitFor((f) => f.kind === "reply" && f.reply.id === 9, "reply 9");
    expect(frame).toMatchObject({
      kind: "reply",
      reply: {
        id: 9,
        error: { code: ErrorCode.badRequest, message: expect.stringMatching(/must be UTF-8 JSON text/) as unknown },
      },
    });
    expect(await client.ok("publish", { channel: "plain:x", data: "fine" })).toEqual({});
  });

  it("closes with 3500 on bytes that are not a frame, and on text frames", async () => {
    const { wsUrl } = await cluster.node();
    const garbage = await pbClient(wsUrl);
    garbage.sendRaw(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    expect(await garbage.closed).toEqual({
      code: CloseCode.badRequest,
      reason: "frame is not a valid Protobuf ClientFrame",
    });
    expect(garbage.pushes("disconnect")).toEqual([
      { code: CloseCode.badRequest, reason: "frame is not a valid Protobuf ClientFrame", reconnect: false },
    ]);
    const text = await pbClient(wsUrl);
    text.sendRaw('{"id":1,"connect":{}}');
    expect(await text.closed).toEqual({ code: CloseCode.badRequest, reason: "expected binary frames" });
  });

  it("encodes each publication once per codec in use, whatever the number of subscribers", async () => {
    const { wsUrl } = await cluster.node();
    const jsonSubs = [await cluster.client(wsUrl), await cluster.client(wsUrl)];
    const pbSubs = [await pbClient(wsUrl), await pbClient(wsUrl)];
    for (const s of jsonSubs) await s.ok("subscribe", { channel: "plain:count" });
    for (const s of pbSubs) await s.ok("subscribe", { channel: "plain:count" });
    const publisher = await pbClient(wsUrl);
    const json = vi.spyOn(JsonCodec.prototype, "encodePublication");
    const pb = vi.spyOn(ProtobufCodec.prototype, "encodePublication");
    for (let i = 1; i <= 5; i++) await publisher.ok("publish", { channel: "plain:count", data: i });
    for (const s of jsonSubs) await s.waitForPushes("publication", 5, "plain:count");
    for (const s of pbSubs) await s.waitForPushes("publication", 5, "plain:count");
    expect(json).toHaveBeenCalledTimes(5);
    expect(pb).toHaveBeenCalledTimes(5);
  });
});

describe('SDK with protocol: "protobuf"', () => {
  it("publishes, reads presence and history, and receives its publications as JSON values", async () => {
    const { wsUrl } = await cluster.node();
    const client = sdk(wsUrl);
    const sub = client.newSubscription("chat:sdk-pb");
    const got: PublicationPush[] = [];
    sub.on("publication", (p) => got.push(p));
    sub.subscribe();
    client.connect();
    await sub.ready();
    const { position } = await sub.publish({ text: "one" });
    await client.publish("chat:sdk-pb", [2, "two"]);
    await until(() => got.length === 2, "2 publications");
    expect(got.map((p) => p.data)).toEqual([{ text: "one" }, [2, "two"]]);
    expect(sub.position).toEqual({ offset: 2, epoch: position?.epoch });
    expect(await sub.presenceStats()).toEqual({ numClients: 1, numUsers: 1 });
    expect(Object.keys((await sub.presence()).clients)).toHaveLength(1);
    const history = await sub.history({ limit: 1, reverse: true });
    expect(history.publications.map((p) => p.data)).toEqual([[2, "two"]]);
    await expect(client.publish("readonly:x", 1)).rejects.toMatchObject({
      code: ErrorCode.permissionDenied,
      temporary: false,
    });
    await expect(client.history("chat:sdk-pb", { limit: 0.5 })).rejects.toMatchObject({
      code: ErrorCode.badRequest,
      temporary: false,
    });
  });

  it("recovers every publication missed while its socket was cut, exactly once and in order", async () => {
    const { node, wsUrl } = await cluster.node();
    const proxy = new OutageProxy(node.address);
    proxies.push(proxy);
    const client = sdk(`${(await proxy.start()).replace(/^http/, "ws")}/ws`);
    const sub = client.newSubscription("chat:pb-cut");
    const got: unknown[] = [];
    sub.on("publication", (p) => got.push(p.data));
    sub.subscribe();
    client.connect();
    await sub.ready();
    const publisher = await cluster.client(wsUrl);
    for (let i = 1; i <= 5; i++) await publisher.ok("publish", { channel: "chat:pb-cut", data: i });
    await until(() => got.length === 5, "first 5");

    const disconnected = withTimeout(
      new Promise((resolve) => client.once("disconnected", resolve)),
      5_000,
      "disconnected",
    );
    proxy.setUp(false);
    await disconnected;
    for (let i = 6; i <= 20; i++) await publisher.ok("publish", { channel: "chat:pb-cut", data: i });
    const resubscribed = withTimeout(
      new Promise<SubscribedEvent>((resolve) => sub.once("subscribed", resolve)),
      10_000,
      "resubscribed",
    );
    proxy.setUp(true);
    expect(await resubscribed).toMatchObject({ recovered: true, wasRecovering: true });
    await until(() => got.length >= 20, "all 20");
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });
});

/** A Protobuf `publish` frame built by hand, so `data` can be any bytes. */
function rawPublish(id: number, channel: string, data: Uint8Array): Uint8Array {
  // Field numbers from hubcast.proto: ClientFrame.command = 1, Command.id = 1, Command.publish = 6,
  // PublishRequest.channel = 1, PublishRequest.data = 2. Short lengths fit in one varint byte.
  const channelBytes = utf8(channel);
  const publish = [0x0a, channelBytes.length, ...channelBytes, 0x12, data.length, ...data];
  const command = [0x08, id, 0x32, publish.length, ...publish];
  return new Uint8Array([0x0a, command.length, ...command]);
}
