import { expect } from "vitest";
import type { ServerProcess } from "./processes.js";
import type { RawClient } from "./raw-client.js";

/** Opens a client on a node; the caller's helper closes it after the test. */
type Connect = (node: ServerProcess) => Promise<RawClient>;

interface Position {
  offset: number;
  epoch: string;
}

/**
 * The same on every engine: two subscribers on each of three nodes get 30 publications made
 * round-robin through the three, in offset order, and exactly once.
 */
export async function expectFanOutOnceInOrder(three: ServerProcess[], client: Connect): Promise<void> {
  const subscribers = await Promise.all(three.flatMap((node) => [client(node), client(node)]));
  await Promise.all(subscribers.map((s) => s.ok("subscribe", { channel: "chat:all" })));
  const publishers = await Promise.all(three.map(client));
  for (let round = 0; round < 10; round++) {
    for (const [i, p] of publishers.entries()) await p.ok("publish", { channel: "chat:all", data: `n${i}-r${round}` });
  }
  const expected = Array.from({ length: 30 }, (_, k) => `n${k % 3}-r${Math.floor(k / 3)}`);
  for (const s of subscribers) {
    const pubs = await s.waitForPushes<{ data: string; offset: number }>("publication", 30, "chat:all");
    expect(pubs.map((p) => p.data)).toEqual(expected);
    expect(pubs.map((p) => p.offset)).toEqual(Array.from({ length: 30 }, (_, k) => k + 1));
  }
  // Exactly once: a marker after everything is the 31st, never more.
  await publishers[0]?.ok("publish", { channel: "chat:all", data: "end" });
  for (const s of subscribers) expect(await s.waitForPushes("publication", 31, "chat:all")).toHaveLength(31);
}

/** A client that left node A recovers on node B the 100 publications made through node C, then goes on live. */
export async function expectRecoveryOnAnotherNode([a, b, c]: ServerProcess[], client: Connect): Promise<void> {
  const first = await client(a as ServerProcess);
  const { position } = await first.ok<{ position: Position }>("subscribe", { channel: "chat:roam" });
  await first.close();
  const publisher = await client(c as ServerProcess);
  for (let i = 1; i <= 100; i++) await publisher.ok("publish", { channel: "chat:roam", data: i });
  const second = await client(b as ServerProcess);
  const result = await second.ok<{ recovered: boolean; publications: { data: number; offset: number }[] }>(
    "subscribe",
    {
      channel: "chat:roam",
      since: position,
    },
  );
  expect(result.recovered).toBe(true);
  expect(result.publications.map((p) => p.data)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  await publisher.ok("publish", { channel: "chat:roam", data: 101 });
  const [live] = await second.waitForPushes<{ data: number; offset: number }>("publication", 1, "chat:roam");
  expect(live).toMatchObject({ data: 101, offset: 101 });
}
