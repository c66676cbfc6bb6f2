import { randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsServer } from "../../../../test/support/nats.js";
import { eventually } from "../../../../test/support/eventually.js";
import { LinkProxy } from "../../../../test/support/link-proxy.js";
import { freePort } from "../../../../test/support/redis.js";
import { brokerContract } from "../broker/broker.contract.js";
import { PublishExpiredError, PublishOutcomeUnknownError } from "../broker/broker.js";
import type { BrokerHandlers } from "../broker/broker.js";
import { presenceContract } from "../presence/presence.contract.js";
import { NatsPresence } from "../presence/nats.js";
import { NatsRegistry } from "../registry/nats.js";
import type { NodeInfo } from "../registry/registry.js";
import { registryContract } from "../registry/registry.contract.js";
import { behindProxy, linkLivenessContract } from "./liveness.contract.js";
import { NatsNames } from "./nats-names.js";
import { NatsEngine, NatsUnavailableError, natsPingOptions, widerStreamLimits } from "./nats.js";
import type { NatsEngineOptions } from "./nats.js";

let nats: NatsServer;
beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(() => nats.stop());

const logger = pino({ level: "silent" });
const engine = (prefix: string, extra: Partial<NatsEngineOptions> = {}): Promise<NatsEngine> =>
  NatsEngine.connect({ servers: [nats.url], prefix, logger, maxHistorySize: 10, ...extra });
/** A node as it announces itself, idle. */
const nodeInfo = (id: string): NodeInfo => ({
  id,
  address: "http://127.0.0.1:1",
  version: "0",
  startedAt: 1,
  connections: 0,
  subscriptions: 0,
  channels: 0,
});
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(JSON.stringify(s));
const HISTORY = { size: 5, ttlMs: 60_000, metaTtlMs: 600_000 };
const quiet: BrokerHandlers = {
  publication: () => undefined,
  join: () => undefined,
  leave: () => undefined,
  resync: () => undefined,
  control: () => undefined,
};

brokerContract("nats", async (prefix, options) => {
  const e = await engine(prefix, { idempotencyWindowMs: options.idempotencyWindowMs });
  return { broker: e.broker, history: e.history, close: () => e.close() };
});

presenceContract("nats", async (prefix) => {
  const e = await engine(prefix);
  return { store: e.presence, close: () => e.close() };
});

registryContract("nats", async (prefix) => {
  const e = await engine(prefix);
  return { store: e.registry, close: () => e.close() };
});

linkLivenessContract("nats", async () => {
  const proxy = new LinkProxy({ host: "127.0.0.1", port: nats.port });
  const { port } = new URL(await proxy.start());
  const e = await engine(`t-${randomUUID()}`, { servers: [`nats://127.0.0.1:${port}`] });
  // One connection carries everything, subscriptions included.
  return behindProxy(e, proxy, async () => {
    expect(proxy.blackhole(() => true)).toBe(1);
  });
});

describe("nats engine specifics", () => {
  it("widens stream limits to the larger of two configurations, where 0 or -1 means no limit", () => {
    const s = 1e9; // one second in nanoseconds
    expect(
      widerStreamLimits(
        { max_msgs_per_subject: 101, max_age: 60 * s, duplicate_window: 60 * s, num_replicas: 3 },
        { max_msgs_per_subject: 11, max_age: 600 * s, duplicate_window: 120 * s, num_replicas: 1 },
      ),
    ).toEqual({
      max_msgs_per_subject: 101,
      max_age: 600 * s,
      duplicate_window: 120 * s,
      num_replicas: 3,
    });
    expect(
      widerStreamLimits(
        { max_msgs_per_subject: -1, max_age: 0, duplicate_window: 120 * s },
        { max_msgs_per_subject: 11, max_age: 60 * s, duplicate_window: 30 * s, num_replicas: 1 },
      ),
    ).toEqual({
      max_msgs_per_subject: -1,
      max_age: 0,
      duplicate_window: 120 * s,
      num_replicas: 1,
    });
    // The window never outlives the age limit, which JetStream would refuse.
    expect(
      widerStreamLimits({ max_age: 10 * s, duplicate_window: 10 * s }, { max_age: 20 * s, duplicate_window: 120 * s })
        .duplicate_window,
    ).toBe(20 * s);
  });

  it("keeps the widest history limits any node started with, whatever order nodes start in", async () => {
    const prefix = `t-${randomUUID()}`;
    const limits = async (): Promise<{ perSubject: number; ageMs: number }> => {
      const nc = await connect({ servers: nats.url });
      try {
        const { config } = await (await jetstreamManager(nc)).streams.info(new NatsNames(prefix).stream);
        return { perSubject: config.max_msgs_per_subject, ageMs: config.max_age / 1e6 };
      } finally {
        await nc.close();
      }
    };
    const first = await engine(prefix, { maxHistorySize: 100, maxHistoryAgeMs: 60_000 });
    await first.close();
    const second = await engine(prefix, { maxHistorySize: 10, maxHistoryAgeMs: 600_000 });
    await second.close();
    expect(await limits()).toEqual({ perSubject: 101, ageMs: 600_000 });
    const third = await engine(prefix, { maxHistorySize: 1_000 });
    await third.close();
    expect((await limits()).perSubject).toBe(1_001);
  });

  it("asks the client for pings that declare a link dead within one interval plus the pong timeout", () => {
    expect(natsPingOptions({})).toEqual({ pingInterval: 1_000, maxPingOut: 2 });
    expect(natsPingOptions({ linkPingIntervalMs: 500, linkPongTimeoutMs: 1_200 })).toEqual({
      pingInterval: 500,
      maxPingOut: 3,
    });
    expect(natsPingOptions({ linkPingIntervalMs: 5_000, linkPongTimeoutMs: 1_000 })).toEqual({
      pingInterval: 5_000,
      maxPingOut: 1,
    });
  });

  it("keeps offsets gap-free when two engines publish to one channel at once", async () => {
    const prefix = `t-${randomUUID()}`;
    const [a, b] = await Promise.all([engine(prefix), engine(prefix)]);
    try {
      await Promise.all([a.broker.start(quiet), b.broker.start(quiet)]);
      const policy = { size: 10, ttlMs: 60_000, metaTtlMs: 600_000 };
      const positions = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 === 0 ? a : b).broker.publish({ channel: "race", data: utf8(`m${i}`) }, policy),
        ),
      );
      const offsets = positions.map((p) => p?.offset ?? 0).sort((x, y) => x - y);
      expect(offsets).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(new Set(positions.map((p) => p?.epoch)).size).toBe(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("takes a burst of 3,000 channel subscriptions at once and delivers on each", async () => {
    const e = await engine(`t-${randomUUID()}`);
    try {
      const got = new Set<string>();
      await e.broker.start({ ...quiet, publication: (p) => got.add(p.channel) });
      const channels = Array.from({ length: 3_000 }, (_, i) => `burst:${i}`);
      await Promise.all(channels.map((channel) => e.broker.subscribe([channel])));
      await Promise.all(
        ["burst:0", "burst:2999"].map((channel) =>
          e.broker.publish({ channel, data: utf8("x") }, { ...HISTORY, size: 0 }),
        ),
      );
      await eventually(() => got.size === 2, 5_000, "both publications");
      await Promise.all(channels.map((channel) => e.broker.unsubscribe([channel])));
    } finally {
      await e.close();
    }
  });

  it("publishes a repeated idempotency key once and answers with the first position", async () => {
    const e = await engine(`t-${randomUUID()}`);
    try {
      const received: number[] = [];
      let heardAfter = (): void => undefined;
      await e.broker.start({
        ...quiet,
        publication: (p) => (p.channel === "after" ? heardAfter() : received.push(p.offset ?? -1)),
      });
      await e.broker.subscribe(["idem", "after", "plain"]);
      const first = await e.broker.publish({ channel: "idem", data: utf8("a") }, HISTORY, { idempotencyKey: "k1" });
      const again = await e.broker.publish({ channel: "idem", data: utf8("a") }, HISTORY, { idempotencyKey: "k1" });
      expect(again).toEqual(first);
      // The same key in another channel is another publish.
      expect(
        (await e.broker.publish({ channel: "after", data: utf8("x") }, HISTORY, { idempotencyKey: "k1" }))?.offset,
      ).toBe(1);
      expect(
        await e.broker.publish(
          { channel: "plain", data: utf8("p") },
          { ...HISTORY, size: 0 },
          { idempotencyKey: "k2" },
        ),
      ).toBeUndefined();
      expect(
        await e.broker.publish(
          { channel: "plain", data: utf8("p") },
          { ...HISTORY, size: 0 },
          { idempotencyKey: "k2" },
        ),
      ).toBeUndefined();
      // Delivery is in order per subscription: once a later publication arrived, the duplicates would have too.
      await new Promise<void>((resolve) => {
        heardAfter = resolve;
        void e.broker.publish({ channel: "after", data: utf8("y") }, HISTORY);
      });
      expect(received).toEqual([1, -1]);
      const page = await e.history.read("idem", { limit: 10 }, HISTORY);
      expect(page.publications.map((p) => p.offset)).toEqual([1]);
    } finally {
      await e.close();
    }
  });

  it("refuses a publish whose deadline passed, and makes nothing", async () => {
    const e = await engine(`t-${randomUUID()}`);
    try {
      await e.broker.start(quiet);
      await expect(
        e.broker.publish({ channel: "late", data: utf8("x") }, HISTORY, { deadline: Date.now() - 1 }),
      ).rejects.toBeInstanceOf(PublishExpiredError);
      await expect(
        e.broker.publish({ channel: "late", data: utf8("x") }, { ...HISTORY, size: 0 }, { deadline: Date.now() - 1 }),
      ).rejects.toBeInstanceOf(PublishExpiredError);
      const page = await e.history.read("late", { limit: 10 }, HISTORY);
      expect(page.position.offset).toBe(0);
      expect(
        (await e.broker.publish({ channel: "late", data: utf8("x") }, HISTORY, { deadline: Date.now() + 5_000 }))
          ?.offset,
      ).toBe(1);
    } finally {
      await e.close();
    }
  });

  it("reports an unanswered publish as outcome-unknown at its deadline; a retry with its key finds it made", async () => {
    const e = await engine(`t-${randomUUID()}`);
    try {
      await e.broker.start(quiet);
      await e.broker.publish({ channel: "u", data: utf8("1") }, HISTORY);
      await nats.pause();
      try {
        const late = e.broker.publish({ channel: "u", data: utf8("2") }, HISTORY, {
          idempotencyKey: "k",
          deadline: Date.now() + 300,
        });
        await expect(late).rejects.toBeInstanceOf(PublishOutcomeUnknownError);
      } finally {
        nats.resume();
      }
      // The message waited in the server's socket and was stored when it resumed: the retry is answered with it.
      const retry = await e.broker.publish({ channel: "u", data: utf8("2") }, HISTORY, { idempotencyKey: "k" });
      expect(retry?.offset).toBe(2);
      const page = await e.history.read("u", { limit: 10 }, HISTORY);
      expect(page.publications.map((p) => p.offset)).toEqual([1, 2]);
    } finally {
      await e.close();
    }
  });

  it("hides publications after historyTtlMs and starts a new epoch after historyMetaTtlMs", async () => {
    const e = await engine(`t-${randomUUID()}`);
    try {
      const policy = { size: 10, ttlMs: 150, metaTtlMs: 400 };
      const first = await e.broker.publish({ channel: "ttl:x", data: utf8("1") }, policy);
      await eventually(
        async () => (await e.history.read("ttl:x", { limit: 10 }, policy)).publications.length === 0,
        5_000,
        "publications to expire",
      );
      const kept = await e.history.read("ttl:x", { limit: 10 }, policy);
      expect(kept.position).toEqual(first); // publications gone, position kept
      await eventually(
        async () => (await e.history.read("ttl:x", { limit: 10 }, policy)).position.epoch !== first?.epoch,
        5_000,
        "the position to expire",
      );
      const fresh = await e.history.read("ttl:x", { limit: 10 }, policy);
      expect(fresh.position.offset).toBe(0);
      expect(await e.broker.publish({ channel: "ttl:x", data: utf8("2") }, policy)).toEqual({
        offset: 1,
        epoch: fresh.position.epoch,
      });
    } finally {
      await e.close();
    }
  });

  it("carries channel names with dots, wildcards and spaces without mixing them up, and info in any script", async () => {
    const e = await engine(`t-${randomUUID()}`);
    try {
      const got: string[] = [];
      const infos: unknown[] = [];
      await e.broker.start({ ...quiet, publication: (p) => got.push(p.channel) && infos.push(p.info) });
      await e.broker.subscribe(["a.b", "a.*", "a >", "ünï"]);
      const info = { client: "c1", user: "zoë", info: { name: "Zoë 😀\r\nX-Evil: 1" } };
      for (const channel of ["a.b", "a.c", "a.*", "a >", "ünï"])
        await e.broker.publish({ channel, data: utf8(channel), info }, HISTORY);
      await eventually(() => got.length === 4, 5_000, "four publications");
      expect(got).toEqual(["a.b", "a.*", "a >", "ünï"]);
      expect(infos).toEqual([info, info, info, info]);
      expect((await e.history.read("ünï", { limit: 1 }, HISTORY)).publications[0]?.info).toEqual(info);
    } finally {
      await e.close();
    }
  });

  it("forgets presence entries and nodes that stopped refreshing within their TTLs", async () => {
    const e = await engine(`t-${randomUUID()}`, { presenceTtlMs: 300, nodeTtlMs: 300 });
    try {
      await e.presence.add("room", { client: "c1", user: "ann" });
      await e.registry.announce(nodeInfo("n1"));
      expect(Object.keys(await e.presence.get("room"))).toEqual(["c1"]);
      expect((await e.registry.list()).map((n) => n.id)).toEqual(["n1"]);
      await eventually(
        async () => (await e.presence.stats("room")).numClients === 0,
        5_000,
        "the presence entry to expire",
      );
      await eventually(async () => (await e.registry.list()).length === 0, 5_000, "the node entry to expire");
    } finally {
      await e.close();
    }
  });

  it("leaves out presence entries and nodes older than their TTL that JetStream has not removed yet", async () => {
    // Buckets that keep entries a minute stand in for a server late to remove them; the
    // stores read them with a 300 ms TTL, so what they show must follow the TTL, not the server.
    const nc = await connect({ servers: nats.url });
    try {
      const kvm = new Kvm(jetstream(nc));
      const prefix = `t-${randomUUID()}`;
      const presence = new NatsPresence(await kvm.create(`${prefix}-presence`, { ttl: 60_000 }), 300);
      const registry = new NatsRegistry(await kvm.create(`${prefix}-nodes`, { ttl: 60_000 }), 300);
      await presence.add("room", { client: "old", user: "ann" });
      await registry.announce(nodeInfo("old"));
      await new Promise((resolve) => setTimeout(resolve, 500));
      await presence.add("room", { client: "new", user: "bob" });
      await registry.announce(nodeInfo("new"));
      expect(Object.keys(await presence.get("room"))).toEqual(["new"]);
      expect(await presence.stats("room")).toEqual({ numClients: 1, numUsers: 1 });
      expect((await registry.list()).map((n) => n.id)).toEqual(["new"]);
      // A refresh writes the entry again, so it is live for another TTL.
      await presence.add("room", { client: "old", user: "ann" });
      expect(Object.keys(await presence.get("room")).sort()).toEqual(["new", "old"]);
      // With no TTL (a bucket whose entries never age out) nothing is left out.
      expect((await new NatsRegistry(await kvm.open(`${prefix}-nodes`), undefined).list()).map((n) => n.id)).toEqual([
        "new",
        "old",
      ]);
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(`KV_${prefix}-presence`);
      await jsm.streams.delete(`KV_${prefix}-nodes`);
    } finally {
      await nc.close();
    }
  });

  it("starts on a deployment whose stream and buckets were made with other limits, and takes its own", async () => {
    const prefix = `t-${randomUUID()}`;
    await (await engine(prefix, { presenceTtlMs: 300, nodeTtlMs: 300, maxHistorySize: 3 })).close();
    const e = await engine(prefix, { presenceTtlMs: 60_000, nodeTtlMs: 60_000, maxHistorySize: 10 });
    try {
      await e.presence.add("room", { client: "c1", user: "ann" });
      for (let i = 1; i <= 8; i++)
        await e.broker.publish({ channel: "limits", data: utf8(`m${i}`) }, { ...HISTORY, size: 8 });
      expect((await e.history.read("limits", { limit: 100 }, { ...HISTORY, size: 8 })).publications).toHaveLength(8);
      const ttls = await bucketTtlsMs(prefix);
      expect(ttls).toEqual({ presence: 60_000, nodes: 60_000 });
    } finally {
      await e.close();
    }
  });

  it("rides out a NATS restart: not ready while down, then resyncs, keeping history and epoch", async () => {
    const e = await engine(`t-${randomUUID()}`);
    try {
      const events: string[] = [];
      const live: number[] = [];
      await e.broker.start({
        ...quiet,
        resync: () => events.push("resync"),
        publication: (p) => live.push(p.offset ?? -1),
      });
      await e.broker.subscribe(["o"]);
      const before = await e.broker.publish({ channel: "o", data: utf8("1") }, HISTORY);
      await nats.kill();
      await eventually(() => !e.isReady(), 5_000, "the engine to notice");
      await expect(e.broker.subscribe(["o2"])).rejects.toThrow("down");
      await nats.startProcess();
      await eventually(() => events.includes("resync") && e.isReady(), 10_000, "a resync after the reconnect");
      const after = await e.broker.publish({ channel: "o", data: utf8("2") }, HISTORY);
      expect(after).toEqual({ offset: 2, epoch: before?.epoch });
      await eventually(() => live.includes(2), 5_000, "the live publication after the restart");
    } finally {
      await e.close();
    }
  });

  it("counts a client once while its entry is being refreshed", async () => {
    const e = await engine(`t-${randomUUID()}`);
    try {
      await e.presence.add("busy", { client: "c1", user: "ann" });
      await e.presence.add("busy", { client: "c2", user: "bob" });
      const refreshes = Array.from({ length: 100 }, (_, i) =>
        e.presence.add("busy", { client: i % 2 === 0 ? "c1" : "c2", user: i % 2 === 0 ? "ann" : "bob" }),
      );
      const counts = await Promise.all(Array.from({ length: 20 }, () => e.presence.stats("busy")));
      await Promise.all(refreshes);
      expect(new Set(counts.map((c) => c.numClients))).toEqual(new Set([2]));
    } finally {
      await e.close();
    }
  });

  it("fails to connect with NatsUnavailableError naming the URL when no server listens", async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const attempt = NatsEngine.connect({ servers: [url], logger });
    await expect(attempt).rejects.toBeInstanceOf(NatsUnavailableError);
    await expect(attempt).rejects.toThrow(url);
  });
});

/** The TTLs the deployment's presence and nodes buckets have on the server, in ms. */
async function bucketTtlsMs(prefix: string): Promise<{ presence: number; nodes: number }> {
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const names = new NatsNames(prefix);
    const ttl = async (bucket: string): Promise<number> =>
      (await jsm.streams.info(`KV_${names.bucket(bucket)}`)).config.max_age / 1e6;
    return { presence: await ttl("presence"), nodes: await ttl("nodes") };
  } finally {
    await nc.close();
  }
}
