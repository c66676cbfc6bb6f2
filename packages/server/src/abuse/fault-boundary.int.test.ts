import { CloseCode, ErrorCode, JsonCodec } from "@hubcast/protocol";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TestCluster } from "../../../../test/support/nodes.js";
import { parseSamples, sample } from "../../../../test/support/scrape.js";
import { ChannelRules } from "../channels.js";
import type { HubcastNode } from "../node.js";

const cluster = new TestCluster();
afterEach(async () => {
  vi.restoreAllMocks();
  await cluster.cleanup();
});

/** A node whose log lines are kept, parsed. */
async function loggedNode(): Promise<{ node: HubcastNode; wsUrl: string; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const logger = pino(
    { level: "info" },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { ...(await cluster.node({}, { logger })), logs };
}

async function unexpected(node: HubcastNode, where: string): Promise<number> {
  return sample(parseSamples((await node.metrics.scrape()).text), `hubcast_unexpected_errors_total{where="${where}"}`);
}

describe("the fault boundary", () => {
  it("ends only the connection whose frame made the codec throw, with 3001, and logs it once", async () => {
    const { node, wsUrl, logs } = await loggedNode();
    const decode = JsonCodec.prototype.decodeClientFrame;
    vi.spyOn(JsonCodec.prototype, "decodeClientFrame").mockImplementation(function (this: JsonCodec, data) {
      if (Buffer.from(data).includes("boom")) throw new Error("codec bug on purpose");
      return decode.call(this, data);
    });
    const [victim, bystander, publisher] = [
      await cluster.client(wsUrl),
      await cluster.client(wsUrl),
      await cluster.client(wsUrl),
    ];
    await bystander.ok("subscribe", { channel: "plain:room" });
    victim.send('{"id":7,"publish":{"channel":"plain:room","data":"boom"}}');
    expect((await victim.closed).code).toBe(CloseCode.serverError);
    expect(victim.frames.at(-1)).toMatchObject({ disconnect: { code: CloseCode.serverError, reconnect: true } });
    await publisher.ok("publish", { channel: "plain:room", data: "after" });
    expect((await bystander.waitForPushes<{ data: unknown }>("publication", 1, "plain:room"))[0]?.data).toBe("after");
    expect(await unexpected(node, "connection")).toBe(1);
    const lines = logs.filter((l) => l["msg"] === "unexpected error while serving a connection; closing it (3001)");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, err: { message: "codec bug on purpose" } });
  });

  it("answers 100 internal when a command fails unexpectedly, and 3001 when its reply cannot be encoded", async () => {
    const { node, wsUrl } = await loggedNode();
    const client = await cluster.client(wsUrl);
    const lookup = ChannelRules.prototype.lookup;
    vi.spyOn(ChannelRules.prototype, "lookup").mockImplementation(function (this: ChannelRules, channel) {
      if (channel === "plain:bug") throw new TypeError("rules bug on purpose");
      return lookup.call(this, channel);
    });
    const failed = await client.command("publish", { channel: "plain:bug", data: 1 });
    expect(failed["error"]).toMatchObject({ code: ErrorCode.internal, temporary: true });
    expect(await unexpected(node, "command")).toBe(1);
    await client.ok("subscribe", { channel: "chat:room" }); // the same connection goes on
    const encode = JsonCodec.prototype.encodeReply;
    vi.spyOn(JsonCodec.prototype, "encodeReply").mockImplementation(function (this: JsonCodec, reply) {
      if ("method" in reply && reply.method === "history") throw new RangeError("Maximum call stack size exceeded");
      return encode.call(this, reply);
    });
    const other = await cluster.client(wsUrl);
    client.send('{"id":50,"history":{"channel":"chat:room"}}');
    expect((await client.closed).code).toBe(CloseCode.serverError);
    await other.ok("subscribe", { channel: "chat:room" }); // the node carries on
    expect(await unexpected(node, "connection")).toBe(1);
  });
});
