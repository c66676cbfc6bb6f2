import { PUBLISH, RedisKeys, connectRedis, newEpoch, publishThroughRedis } from "@hubcast/emitter";
import type { RedisConnection } from "@hubcast/emitter";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ServerProcess } from "../../../test/support/processes.js";
import { eventually } from "../../../test/support/eventually.js";
import { RawClient } from "../../../test/support/raw-client.js";
import { RedisServer } from "../../../test/support/redis.js";
import { startRedisNodes } from "../../../test/support/redis-nodes.js";

interface Position {
  offset: number;
  epoch: string;
}

let redis: RedisServer;
let connection: RedisConnection | undefined;
const servers: ServerProcess[] = [];
const clients: RawClient[] = [];
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await connection?.close();
  await redis.stop();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
});

async function client(node: ServerProcess): Promise<RawClient> {
  const c = await RawClient.connected(node.wsUrl);
  clients.push(c);
  return c;
}

const alive = (node: ServerProcess): boolean => node.child.exitCode === null && node.child.signalCode === null;
const DEEP = 20_000;

describe("a publication in Redis that no reader can encode", () => {
  it("is skipped by every node a recovering client reaches, and no node goes down", async () => {
    const started = await startRedisNodes(redis.url, 3);
    servers.push(...started.nodes);
    const channel = "chat:poison";
    // Live subscribers on every node: the live push carries the stored bytes as they are.
    const live = await Promise.all(started.nodes.map(client));
    const positions = await Promise.all(live.map((c) => c.ok<{ position: Position }>("subscribe", { channel })));
    const since = positions[0]?.position as Position;
    await live[0]?.ok("publish", { channel, data: "before" });

    // Straight into Redis with the nodes' own script, past every check (as an older version might).
    connection = await connectRedis({ url: redis.url }, () => undefined);
    const deep = new TextEncoder().encode(`${"[".repeat(DEEP)}${"]".repeat(DEEP)}`);
    const policy = { size: 1000, ttlMs: 300_000, metaTtlMs: 86_400_000 };
    expect(
      await publishThroughRedis(connection, new RedisKeys(started.prefix), { channel, data: deep }, policy),
    ).toMatchObject({ offset: 2 });
    await live[1]?.ok("publish", { channel, data: "after" });
    for (const c of live)
      expect((await c.waitForPushes<{ offset: number }>("publication", 3, channel)).map((p) => p.offset)).toEqual([
        1, 2, 3,
      ]);

    // Each client reconnects, to every node in turn, and recovers from where it was.
    for (const node of started.nodes) {
      const back = await client(node);
      const result = await back.ok<{ recovered: boolean; publications: { data: unknown; offset: number }[] }>(
        "subscribe",
        { channel, since },
      );
      expect(result.recovered).toBe(true);
      expect(result.publications).toMatchObject([
        { data: "before", offset: 1 },
        { data: "after", offset: 3 },
      ]);
      const history = await back.ok<{ publications: { offset: number }[] }>("history", { channel });
      expect(history.publications.map((p) => p.offset)).toEqual([1, 3]);
      expect(alive(node)).toBe(true);
    }
    for (const node of started.nodes) {
      expect(alive(node)).toBe(true);
      // Log lines come through the node's stdout, which may be read after the replies arrive.
      const skippedLines = (): Record<string, unknown>[] =>
        node.logs.filter(
          (line) => typeof line["msg"] === "string" && line["msg"].startsWith("stored publication skipped"),
        );
      await eventually(() => skippedLines().length >= 1, 5_000, "the skip log line");
      expect(skippedLines().map((line) => [line["level"], line["offset"]])).toEqual([[40, 2]]);
      expect(await (await client(node)).ok("publish", { channel, data: "still up" })).toMatchObject({
        position: { offset: expect.any(Number) as number },
      });
    }
    // The second read (history) skipped it again: the log says so once, as a count.
    await Promise.all(
      started.nodes.map((node) =>
        eventually(() => node.logs.some((line) => line["repeated"] === 1), 8_000, "the repeat count"),
      ),
    );
  });

  it("is skipped when its info is not JSON, without failing the read or the recovery", async () => {
    const started = await startRedisNodes(redis.url, 1);
    servers.push(...started.nodes);
    const node = started.nodes[0] as ServerProcess;
    const channel = "chat:badinfo";
    const early = await client(node);
    const { position: since } = await early.ok<{ position: Position }>("subscribe", { channel });
    await early.close();
    await (await client(node)).ok("publish", { channel, data: "before" });

    // The nodes' own script, with an info argument no node would write.
    connection ??= await connectRedis({ url: redis.url }, () => undefined);
    const keys = new RedisKeys(started.prefix);
    const data = Buffer.from('"bad info"');
    await PUBLISH.run(
      connection,
      [keys.stream(channel), keys.meta(channel)],
      [keys.pubsub(channel), data, "{not json", "1000", "300000", "86400000", newEpoch(), "publish"],
    );
    await (await client(node)).ok("publish", { channel, data: "after" });

    const back = await client(node);
    const result = await back.ok<{ recovered: boolean; publications: { data: unknown; offset: number }[] }>(
      "subscribe",
      { channel, since },
    );
    expect(result).toMatchObject({
      recovered: true,
      publications: [
        { data: "before", offset: 1 },
        { data: "after", offset: 3 },
      ],
    });
    const history = await back.ok<{ publications: { offset: number }[] }>("history", { channel });
    expect(history.publications.map((p) => p.offset)).toEqual([1, 3]);
    const skippedLines = (): Record<string, unknown>[] =>
      node.logs.filter((line) => line["msg"] === "stored publication skipped: its info is not JSON");
    await eventually(() => skippedLines().length >= 1, 5_000, "the skip log line"); // stdout may be read after the replies
    expect(skippedLines().map((line) => line["offset"])).toEqual([2]);
    // Skipped by the history read too: the same warning again is written as a count.
    await eventually(() => node.logs.some((line) => line["repeated"] === 1), 8_000, "the repeat count");
    expect(alive(node)).toBe(true);
  });
});
