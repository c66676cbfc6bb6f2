import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { ErrorCode } from "@hubcast/protocol";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "../../../test/support/nodes.js";
import { ProtobufClient } from "../../../test/support/protobuf-client.js";
import { parseSamples, sample } from "../../../test/support/scrape.js";
import type { HistoryPolicy } from "./broker/broker.js";

const KEY = "test-key-0123456789abcdef";
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
/** JSON text of arrays nested `depth` deep, built as text: JSON.stringify could not encode it. */
const nestedText = (depth: number): string => `${"[".repeat(depth)}0${"]".repeat(depth)}`;
/** A value nested `depth` deep, alternating arrays and objects, built without recursion. */
function nestedValue(depth: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value };
  return value;
}
const DEEP = 20_000;

const cluster = new TestCluster();
const pbClients: ProtobufClient[] = [];
afterEach(async () => {
  await Promise.all(pbClients.splice(0).map((c) => c.close()));
  await cluster.cleanup();
});

async function pbClient(wsUrl: string): Promise<ProtobufClient> {
  const client = await ProtobufClient.connected(wsUrl);
  pbClients.push(client);
  return client;
}

/** A Protobuf `publish` frame built by hand (field numbers from hubcast.proto), so `data` can be any bytes. */
function rawPublish(id: number, channel: string, data: Uint8Array): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).fork(); // ClientFrame.command
  w.tag(1, WireType.Varint).uint32(id); // Command.id
  w.tag(6, WireType.LengthDelimited).fork(); // Command.publish
  w.tag(1, WireType.LengthDelimited).string(channel);
  w.tag(2, WireType.LengthDelimited).bytes(data);
  return w.join().join().finish();
}

async function pbPublishBytes(client: ProtobufClient, id: number, channel: string, data: Uint8Array): Promise<unknown> {
  client.sendRaw(rawPublish(id, channel, data));
  const frame = await client.waitFor((f) => f.kind === "reply" && f.reply.id === id, `reply ${id}`);
  return frame.kind === "reply" ? frame.reply : undefined;
}

async function api(
  base: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { Authorization: `Bearer ${KEY}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`${base}${path}`, { method, headers, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("publication data past maxDataDepth", () => {
  it("is refused with 107 from Protobuf and JSON clients, and the node serves history after", async () => {
    const { wsUrl } = await cluster.node();
    const pb = await pbClient(wsUrl);
    const json = await cluster.client(wsUrl);
    await json.ok("subscribe", { channel: "chat:deep" });
    const tooDeep = 'publish: field "data" nests arrays/objects deeper than 64 levels (maxDataDepth)';

    expect(await pbPublishBytes(pb, 7, "chat:deep", utf8(nestedText(DEEP)))).toEqual({
      id: 7,
      error: { code: ErrorCode.badRequest, message: tooDeep, temporary: false },
    });
    json.send(`{"id":70,"publish":{"channel":"chat:deep","data":${nestedText(DEEP)}}}`);
    const reply = await json.waitFor((f) => f["id"] === 70, "reply 70");
    expect(reply).toEqual({ id: 70, error: { code: ErrorCode.badRequest, message: tooDeep, temporary: false } });
    // One past the default limit is refused too; the limit is exact.
    expect(await pbPublishBytes(pb, 8, "chat:deep", utf8(nestedText(65)))).toMatchObject({
      error: { code: ErrorCode.badRequest },
    });

    await json.ok("publish", { channel: "chat:deep", data: "fine" });
    const history = await json.ok<{ publications: { data: unknown }[] }>("history", { channel: "chat:deep" });
    expect(history.publications.map((p) => p.data)).toEqual(["fine"]);
    expect(await pb.ok("publish", { channel: "chat:deep", data: "still up" })).toMatchObject({
      position: { offset: 2 },
    });
  });

  it("accepts data exactly maxDataDepth deep and returns it from history on both codecs", async () => {
    const { wsUrl } = await cluster.node({ maxDataDepth: 40 });
    const pb = await pbClient(wsUrl);
    const json = await cluster.client(wsUrl);
    const atLimit = nestedValue(40);
    await json.ok("subscribe", { channel: "chat:limit" });
    await pb.ok("subscribe", { channel: "chat:limit" });
    await json.ok("publish", { channel: "chat:limit", data: atLimit });
    expect(await pbPublishBytes(pb, 90, "chat:limit", utf8(JSON.stringify(atLimit)))).toMatchObject({
      result: { position: { offset: 2 } },
    });
    expect(await json.fails("publish", { channel: "chat:limit", data: [atLimit] })).toMatchObject({
      code: ErrorCode.badRequest,
      message: expect.stringContaining("40 levels") as unknown,
    });

    const viaJson = await json.ok<{ publications: { data: unknown }[] }>("history", { channel: "chat:limit" });
    const viaPb = await pb.ok("history", { channel: "chat:limit" });
    expect(viaJson.publications.map((p) => p.data)).toEqual([atLimit, atLimit]);
    expect(viaPb.publications.map((p) => p.data)).toEqual([atLimit, atLimit]);
  });

  it("is refused with 400 by the server API, for publish and broadcast alike", async () => {
    const { node } = await cluster.node({ apiKey: KEY });
    const base = node.address.url;
    const message = 'field "data" nests arrays/objects deeper than 64 levels (maxDataDepth)';
    const published = await api(base, "POST", "/api/publish", `{"channel":"chat:api","data":${nestedText(DEEP)}}`);
    expect(published).toEqual({ status: 400, body: { error: { code: "bad_request", message } } });
    const broadcast = await api(
      base,
      "POST",
      "/api/broadcast",
      `{"channels":["chat:a","chat:b"],"data":${nestedText(DEEP)}}`,
    );
    expect(broadcast).toEqual({ status: 400, body: { error: { code: "bad_request", message } } });
    expect(await api(base, "POST", "/api/publish", `{"channel":"chat:api","data":${nestedText(64)}}`)).toMatchObject({
      status: 200,
    });
    const history = await api(base, "GET", "/api/history?channel=chat:api");
    expect(history.body["publications"]).toEqual([{ offset: 1, data: JSON.parse(nestedText(64)) as unknown }]);
  });
});

describe("stored publications a reader cannot encode", () => {
  it("are left out of history, recovery and the API's history, each logged at warn and counted", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => void lines.push(line) });
    const { node, wsUrl } = await cluster.node({ apiKey: KEY }, { logger });
    const channel = "chat:stored";
    const early = await cluster.client(wsUrl);
    const { position } = await early.ok<{ position: { offset: number; epoch: string } }>("subscribe", { channel });
    await early.close(); // its live pushes would carry the bad bytes too

    // Straight into the engine, past every check: as an older version or a raw write might.
    const policy: HistoryPolicy = { size: 100, ttlMs: 300_000, metaTtlMs: 86_400_000 };
    await node.engine.broker.publish({ channel, data: utf8('"before"') }, policy);
    await node.engine.broker.publish({ channel, data: utf8(nestedText(DEEP)) }, policy);
    await node.engine.broker.publish({ channel, data: new Uint8Array([0x22, 0xff, 0x22]) }, policy);
    await node.engine.broker.publish({ channel, data: utf8('"after"') }, policy);
    const good = [
      { offset: 1, data: "before" },
      { offset: 4, data: "after" },
    ];

    const reader = await cluster.client(wsUrl);
    const recovered = await reader.ok<{ recovered: boolean; publications: unknown[] }>("subscribe", {
      channel,
      since: position,
    });
    expect(recovered.recovered).toBe(true);
    expect(recovered.publications).toMatchObject(good);
    const history = await reader.ok<{ publications: unknown[] }>("history", { channel });
    expect(history.publications).toMatchObject(good);
    const viaApi = await api(node.address.url, "GET", `/api/history?channel=${channel}`);
    expect(viaApi).toMatchObject({ status: 200, body: { publications: good } });

    const warnings = lines.map((line) => JSON.parse(line) as { level: number; msg: string; offset?: number });
    const skipped = warnings.filter((w) => w.msg.startsWith("stored publication skipped"));
    expect(skipped.map((w) => [w.level, w.offset])).toEqual([
      [40, 2],
      [40, 3],
      [40, 2],
      [40, 3],
      [40, 2],
      [40, 3],
    ]);
    const metrics = await fetch(`${node.address.url}/metrics`);
    expect(sample(parseSamples(await metrics.text()), "hubcast_publications_skipped_total")).toBe(6);
    expect(await reader.ok("publish", { channel, data: "node still up" })).toMatchObject({ position: { offset: 5 } });
  });
});
