import type { StreamPosition, SubscribeResult } from "@hubcast/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "../../../test/support/nodes.js";
import { MemoryEngine } from "./engine/memory.js";
import { gatedHistoryEngine } from "../../../test/support/engines.js";

const cluster = new TestCluster();
afterEach(() => cluster.cleanup());

type Position = StreamPosition;

async function publishRange(
  client: Awaited<ReturnType<TestCluster["client"]>>,
  channel: string,
  from: number,
  to: number,
): Promise<void> {
  for (let i = from; i <= to; i++) await client.ok("publish", { channel, data: i });
}

describe("history and recovery", () => {
  it("recovers every missed publication once and in order, merging those published during the resubscribe", async () => {
    const { wsUrl } = await cluster.node();
    const publisher = await cluster.client(wsUrl);
    const first = await cluster.client(wsUrl);
    const sub = await first.ok<SubscribeResult>("subscribe", { channel: "chat:r" });
    expect(sub).toMatchObject({ recoverable: true, position: { offset: 0 } });
    await publishRange(publisher, "chat:r", 1, 20);
    const seen = await first.waitForPushes<{ offset: number }>("publication", 20, "chat:r");
    const last: Position = { offset: seen.at(-1)?.offset ?? 0, epoch: sub.position?.epoch ?? "" };
    await first.close(); // the socket is cut

    await publishRange(publisher, "chat:r", 21, 70);
    const second = await cluster.client(wsUrl);
    // Publications 71..120 are sent without waiting, so they race with the resubscribe.
    for (let i = 71; i <= 95; i++) publisher.send({ id: 1000 + i, publish: { channel: "chat:r", data: i } });
    const reply = second.command("subscribe", { channel: "chat:r", since: last });
    for (let i = 96; i <= 120; i++) publisher.send({ id: 1000 + i, publish: { channel: "chat:r", data: i } });
    const result = (await reply)["subscribe"] as SubscribeResult;
    expect(result.recovered).toBe(true);
    const recovered = result.publications ?? [];
    const live = await second.waitForPushes<{ offset: number; data: number }>(
      "publication",
      120 - 20 - recovered.length,
      "chat:r",
    );
    const offsets = [...recovered.map((p) => p.offset), ...live.map((p) => p.offset)];
    expect(offsets).toEqual(Array.from({ length: 100 }, (_, i) => 21 + i));
    expect([...recovered, ...live].map((p) => p.data)).toEqual(offsets);
    expect(result.position?.epoch).toBe(last.epoch);
  });

  it("drops buffered publications that the history read already returned", async () => {
    const { engine, readStarted, open } = gatedHistoryEngine("before read");
    const { wsUrl } = await cluster.node({}, { engine });
    const publisher = await cluster.client(wsUrl);
    const { position } = await publisher.ok<{ position: Position }>("publish", { channel: "chat:d", data: 1 });
    const sub = await cluster.client(wsUrl);
    const reply = sub.command("subscribe", { channel: "chat:d", since: position });
    await readStarted; // subscribed to the broker; history not read yet
    await publishRange(publisher, "chat:d", 2, 6); // buffered, and also in the history read
    open();
    const result = (await reply)["subscribe"] as SubscribeResult;
    expect(result.publications?.map((p) => p.offset)).toEqual([2, 3, 4, 5, 6]);
    await publisher.ok("publish", { channel: "chat:d", data: 7 });
    const live = await sub.waitForPushes<{ offset: number }>("publication", 1, "chat:d");
    expect(live.map((p) => p.offset)).toEqual([7]); // 2..6 not pushed again
  });

  it("pushes buffered publications newer than the history read right after the reply", async () => {
    const { engine, readStarted, open } = gatedHistoryEngine("after read");
    const { wsUrl } = await cluster.node({}, { engine });
    const publisher = await cluster.client(wsUrl);
    await publishRange(publisher, "chat:m", 1, 4);
    const { position } = await publisher.ok<{ position: Position }>("publish", { channel: "chat:m", data: 5 });
    const sub = await cluster.client(wsUrl);
    const reply = sub.command("subscribe", { channel: "chat:m", since: { offset: 2, epoch: position?.epoch } });
    await readStarted; // history (up to offset 5) is read; the reply is held back
    await publishRange(publisher, "chat:m", 6, 10); // reach the node while the subscribe is pending
    expect(sub.pushes("publication")).toHaveLength(0); // nothing may overtake the reply
    open();
    const result = (await reply)["subscribe"] as SubscribeResult;
    expect(result.recovered).toBe(true);
    expect(result.publications?.map((p) => p.offset)).toEqual([3, 4, 5]);
    expect(result.position?.offset).toBe(5);
    const live = await sub.waitForPushes<{ offset: number }>("publication", 5, "chat:m");
    expect(live.map((p) => p.offset)).toEqual([6, 7, 8, 9, 10]);
  });

  it("says recovered: true with nothing to add when the client is up to date", async () => {
    const { wsUrl } = await cluster.node();
    const c = await cluster.client(wsUrl);
    await publishRange(c, "chat:u", 1, 3);
    const { position } = await c.ok<SubscribeResult>("subscribe", { channel: "chat:u" });
    await c.ok("unsubscribe", { channel: "chat:u" });
    const again = await c.ok<SubscribeResult>("subscribe", { channel: "chat:u", since: position });
    expect(again).toEqual({ recoverable: true, position, recovered: true, publications: [] });
  });

  it("says recovered: false when history was trimmed past the client's position", async () => {
    const { wsUrl } = await cluster.node();
    const c = await cluster.client(wsUrl);
    const { position } = await c.ok<SubscribeResult>("subscribe", { channel: "small:t" });
    await c.ok("unsubscribe", { channel: "small:t" });
    await publishRange(c, "small:t", 1, 25); // keeps only 16..25
    const again = await c.ok<SubscribeResult>("subscribe", { channel: "small:t", since: position });
    expect(again.recovered).toBe(false);
    expect(again.publications).toEqual([]);
    expect(again.position).toEqual({ offset: 25, epoch: position?.epoch });
  });

  it("says recovered: false for another epoch or a position ahead of the stream", async () => {
    const { wsUrl } = await cluster.node();
    const c = await cluster.client(wsUrl);
    await publishRange(c, "chat:e", 1, 2);
    const otherEpoch = await c.ok<SubscribeResult>("subscribe", {
      channel: "chat:e",
      since: { offset: 1, epoch: "elsewhere" },
    });
    expect(otherEpoch).toMatchObject({ recovered: false, publications: [] });
    await c.ok("unsubscribe", { channel: "chat:e" });
    const ahead = await c.ok<SubscribeResult>("subscribe", {
      channel: "chat:e",
      since: { offset: 99, epoch: otherEpoch.position?.epoch },
    });
    expect(ahead).toMatchObject({ recovered: false, publications: [] });
  });

  it("expires publications after historyTtlMs but keeps the position until historyMetaTtlMs", async () => {
    let now = 1_000_000;
    const engine = new MemoryEngine({ now: () => now });
    const { wsUrl } = await cluster.node(
      { namespaces: { ttl: { historySize: 10, historyTtlMs: 1_000, historyMetaTtlMs: 5_000, allowPublish: true } } },
      { engine },
    );
    const c = await cluster.client(wsUrl);
    await publishRange(c, "ttl:x", 1, 3);
    const { position } = await c.ok<SubscribeResult>("subscribe", { channel: "ttl:x" });
    const resubscribe = async (since: Position | undefined): Promise<SubscribeResult> => {
      await c.ok("unsubscribe", { channel: "ttl:x" });
      return c.ok<SubscribeResult>("subscribe", { channel: "ttl:x", since });
    };
    now += 999;
    expect(await resubscribe({ offset: 2, epoch: position?.epoch ?? "" })).toMatchObject({
      recovered: true,
      publications: [{ data: 3, offset: 3 }],
    });
    now += 1_001; // publications expired; the position remains
    expect(await resubscribe(position)).toEqual({ recoverable: true, position, recovered: true, publications: [] });
    expect(await resubscribe({ offset: 2, epoch: position?.epoch ?? "" })).toMatchObject({
      recovered: false,
      position,
    });
    now += 4_000; // the position expired too: a new epoch
    const expired = await resubscribe(position);
    expect(expired.recovered).toBe(false);
    expect(expired.position?.offset).toBe(0);
    expect(expired.position?.epoch).not.toBe(position?.epoch);
  });

  it("answers history reads with limit, since and reverse, for subscribers only", async () => {
    const { wsUrl } = await cluster.node();
    const c = await cluster.client(wsUrl);
    await publishRange(c, "chat:h", 1, 8);
    expect((await c.fails("history", { channel: "chat:h" })).message).toMatch(/subscribe/);
    await c.ok("subscribe", { channel: "chat:h" });
    type Page = { publications: { data: number; offset: number }[]; position: Position };
    const all = await c.ok<Page>("history", { channel: "chat:h" });
    expect(all.publications.map((p) => p.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(all.position.offset).toBe(8);
    const newest = await c.ok<Page>("history", { channel: "chat:h", limit: 3, reverse: true });
    expect(newest.publications.map((p) => p.offset)).toEqual([8, 7, 6]);
    const after = await c.ok<Page>("history", {
      channel: "chat:h",
      since: { offset: 5, epoch: all.position.epoch },
      limit: 2,
    });
    expect(after.publications.map((p) => p.offset)).toEqual([6, 7]);
    const none = await c.ok<Page>("history", { channel: "chat:h", limit: 0 });
    expect(none).toEqual({ publications: [], position: all.position });
  });
});
