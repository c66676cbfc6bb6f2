import { Client } from "@hubcast/client";
import type { MembersSummaryEvent, Subscription } from "@hubcast/client";
import { WebSocket } from "ws";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { gatedJoinLeaveEngine } from "../../../test/support/engines.js";
import { eventually } from "../../../test/support/eventually.js";
import { TestCluster } from "../../../test/support/nodes.js";
import type { ServerProcess } from "../../../test/support/processes.js";
import { RawClient, withTimeout } from "../../../test/support/raw-client.js";
import { startRedisNodes } from "../../../test/support/redis-nodes.js";
import { RedisServer } from "../../../test/support/redis.js";
import { sample, scrapeFresh } from "../../../test/support/scrape.js";
import { TEST_SECRET, sign } from "../../../test/support/tokens.js";

const cluster = new TestCluster();
const sdkClients: Client[] = [];
const rawClients: RawClient[] = [];
let redis: RedisServer | undefined;
const servers: ServerProcess[] = [];

afterEach(async () => {
  for (const c of sdkClients.splice(0)) c.disconnect();
  await Promise.all(rawClients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
  await cluster.cleanup();
});
afterAll(() => redis?.stop());

/** How a member's record names anonymous connections (raw test clients). */
const ANONYMOUS = "(anonymous)";

/** One member as an app sees it: the SDK's join and leave events of one subscription, in order. */
interface Member {
  name: string;
  client: Client;
  sub: Subscription;
  events: string[];
  summaries: MembersSummaryEvent[];
}

/** An SDK client that connects as user `name` and subscribes to `channel`, recording its members events. */
async function member(wsUrl: string, name: string, channel: string): Promise<Member> {
  const client = new Client(wsUrl, { websocket: WebSocket, token: await sign({ sub: name }) });
  sdkClients.push(client);
  const sub = client.newSubscription(channel);
  const m: Member = { name, client, sub, events: [], summaries: [] };
  const who = (user: string): string => (user === "" ? ANONYMOUS : user);
  sub.on("join", (e) => m.events.push(`join ${who(e.info.user)}`));
  sub.on("leave", (e) => m.events.push(`leave ${who(e.info.user)}`));
  sub.on("membersSummary", (e) => m.summaries.push(e));
  sub.subscribe();
  client.connect();
  await withTimeout(sub.ready(), 10_000, `${name} subscribed`);
  return m;
}

async function raw(wsUrl: string): Promise<RawClient> {
  const c = await RawClient.connected(wsUrl);
  rawClients.push(c);
  return c;
}

const httpOf = (wsUrl: string): string => wsUrl.replace(/^ws/, "http").replace(/\/ws$/, "");

/**
 * Joins one member at a time and waits until an observer and everyone before have heard of it,
 * then lets them leave one at a time the same way: each member hears of its own join and exactly
 * those who came after it, and of every leave but its own, in order.
 */
async function joinAndLeaveOneByOne(wsUrls: readonly string[], count: number): Promise<void> {
  // The observer (anonymous, so its join is left out of what is compared) is there
  // when the first member joins, so that join too is heard before the next one comes.
  const observer = await raw(wsUrls[0] as string);
  await observer.ok("subscribe", { channel: "chat:room" });
  const members: Member[] = [];
  const names = Array.from({ length: count }, (_, i) => `m${i}`);
  const heard = (m: Member, event: string) => eventually(() => m.events.includes(event), 5_000, `${m.name}: ${event}`);
  for (const [i, name] of names.entries()) {
    const joined = await member(wsUrls[i % wsUrls.length] as string, name, "chat:room");
    await eventually(() => observer.members("join").some((j) => j.info.user === name), 5_000, `observer: ${name}`);
    for (const m of members) await heard(m, `join ${name}`);
    members.push(joined);
  }
  const leaving = members.slice(1); // m0 stays to hear everyone go
  for (const [i, m] of leaving.entries()) {
    if (i % 2 === 0) m.sub.unsubscribe();
    else m.client.disconnect();
    for (const stay of [members[0] as Member, ...leaving.slice(i + 1)]) await heard(stay, `leave ${m.name}`);
  }
  for (const [i, m] of members.entries()) {
    const later = names.slice(i + 1).map((name) => `join ${name}`);
    const leftBefore = i === 0 ? names.slice(1) : names.slice(1, i);
    const named = m.events.filter((event) => !event.endsWith(ANONYMOUS));
    expect(named, m.name).toEqual([`join ${m.name}`, ...later, ...leftBefore.map((name) => `leave ${name}`)]);
    expect(m.summaries).toEqual([]);
  }
}

describe("join and leave, batched per channel and period", () => {
  it("tells SDK members of their own join and every later member's join and leave exactly once, in order", async () => {
    const { wsUrl } = await cluster.node({ tokenHmacSecret: TEST_SECRET });
    await joinAndLeaveOneByOne([wsUrl], 5);
  });

  it("sends a burst of joins as one push per subscriber, and only counts past joinLeaveMaxEntries", async () => {
    const gate = gatedJoinLeaveEngine();
    const { wsUrl } = await cluster.node(
      { tokenHmacSecret: TEST_SECRET, joinLeaveMaxEntries: 5 },
      { engine: gate.engine },
    );
    const watcher = await raw(wsUrl);
    await watcher.ok("subscribe", { channel: "chat:burst" });
    const sdkWatcher = await member(wsUrl, "watcher", "chat:burst");
    const listed = await Promise.all(Array.from({ length: 3 }, () => raw(wsUrl)));
    await Promise.all(listed.map((c) => c.ok("subscribe", { channel: "chat:burst" })));
    await eventually(() => gate.held() === 5, 5_000, "5 joins held");
    gate.release(); // five joins in one period: listed
    const [first] = await watcher.waitForPushes<{ joins: unknown[] }>("members", 1, "chat:burst");
    expect(first?.joins).toHaveLength(5);
    // The SDK's own join is one of the five.
    await eventually(() => sdkWatcher.events.length === 5, 5_000, "5 join events");

    const crowd = await Promise.all(Array.from({ length: 7 }, () => raw(wsUrl)));
    await Promise.all(crowd.map((c) => c.ok("subscribe", { channel: "chat:burst" })));
    await listed[0]?.ok("unsubscribe", { channel: "chat:burst" });
    await eventually(() => gate.held() === 8, 5_000, "8 changes held");
    gate.release(); // eight changes in one period: only their counts
    const pushes = await watcher.waitForPushes<{ joins: unknown[]; leaves: unknown[]; summary?: unknown }>(
      "members",
      2,
      "chat:burst",
    );
    expect(pushes[1]).toEqual({ channel: "chat:burst", leaves: [], joins: [], summary: { joins: 7, leaves: 1 } });
    await eventually(() => sdkWatcher.summaries.length === 1, 5_000, "a membersSummary event");
    expect(sdkWatcher.summaries).toEqual([{ channel: "chat:burst", joins: 7, leaves: 1 }]);
    expect(sdkWatcher.events).toHaveLength(5);
    // A newcomer of the crowd got the same one frame, its own join counted in it.
    expect(crowd[0]?.pushes("members", "chat:burst")).toEqual([pushes[1]]);
  });

  it("drops a join and leave of one connection within a period, and keeps the order of the rest", async () => {
    const gate = gatedJoinLeaveEngine();
    const { wsUrl } = await cluster.node({}, { engine: gate.engine });
    const watcher = await raw(wsUrl);
    await watcher.ok("subscribe", { channel: "chat:churn" });
    const [churn, stay, later] = await Promise.all([raw(wsUrl), raw(wsUrl), raw(wsUrl)]);
    const idOf = (c: RawClient | undefined): string | undefined =>
      (c?.frames.find((f) => f["connect"] !== undefined)?.["connect"] as { client: string } | undefined)?.client;
    await churn?.ok("subscribe", { channel: "chat:churn" });
    await stay?.ok("subscribe", { channel: "chat:churn" });
    await churn?.ok("unsubscribe", { channel: "chat:churn" });
    await later?.ok("subscribe", { channel: "chat:churn" });
    await eventually(() => gate.held() === 5, 5_000, "5 changes held");
    gate.release();
    const [push] = await watcher.waitForPushes<{ joins: { client: string }[]; leaves: unknown[] }>(
      "members",
      1,
      "chat:churn",
    );
    expect(push?.leaves).toEqual([]);
    expect(push?.joins.map((i) => i.client)).toEqual([idOf(watcher), idOf(stay), idOf(later)]);
  });

  it("costs O(N) pushes for a room filling up: 300 members in six periods get 1,050 pushes, not 45,150", async () => {
    const gate = gatedJoinLeaveEngine();
    const { wsUrl } = await cluster.node(
      { maxConnectionsPerSecond: 0, joinLeaveMaxEntries: 50 },
      { engine: gate.engine },
    );
    const waves = 6;
    const perWave = 50;
    const all: RawClient[] = [];
    let expectedPushes = 0;
    for (let wave = 0; wave < waves; wave += 1) {
      const joining = await Promise.all(Array.from({ length: perWave }, () => raw(wsUrl)));
      await Promise.all(joining.map((c) => c.ok("subscribe", { channel: "chat:fill" })));
      await eventually(() => gate.held() === perWave, 10_000, `wave ${wave} held`);
      all.push(...joining);
      gate.release();
      expectedPushes += all.length;
      // A member of wave w has had one push per period since: wave + 1 - w.
      const heard = (): boolean =>
        all.every((c, i) => c.pushes("members", "chat:fill").length === wave + 1 - Math.floor(i / perWave));
      await eventually(heard, 10_000, `wave ${wave} heard`);
    }
    const frames = all.reduce((sum, c) => sum + c.pushes("members", "chat:fill").length, 0);
    expect(frames).toBe(expectedPushes);
    expect(frames).toBe(1_050); // one per member per period; a push per join would be 300·301/2 = 45,150
    // Every member heard of exactly its own wave and the ones after it.
    for (const [i, c] of all.entries()) {
      expect(c.members("join", "chat:fill")).toHaveLength(300 - Math.floor(i / perWave) * perWave);
    }
    const samples = await scrapeFresh(httpOf(wsUrl));
    expect(sample(samples, 'hubcast_messages_sent_total{type="members"}')).toBe(1_050);
    expect(sample(samples, 'hubcast_messages_sent_total{type="join"}')).toBe(0);
  }, 60_000);

  it("tells members on two nodes sharing a real Redis of every join and leave exactly once", async () => {
    redis ??= await RedisServer.start();
    const started = await startRedisNodes(redis.url, 2, ["--token-hmac-secret", TEST_SECRET]);
    servers.push(...started.nodes);
    await joinAndLeaveOneByOne(
      started.nodes.map((n) => n.wsUrl),
      4,
    );
  }, 30_000);
});
