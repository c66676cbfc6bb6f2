import { pino } from "pino";
import type { Logger } from "pino";
import { randomUUID } from "node:crypto";
import type { RedisNodeAddress } from "@hubcast/emitter";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../../../../test/support/eventually.js";
import { LinkProxy } from "../../../../test/support/link-proxy.js";
import { RedisCluster } from "../../../../test/support/redis-cluster.js";
import { brokerContract } from "../broker/broker.contract.js";
import { SILENT_LINK_BOUND_MS, linkLivenessContract } from "./liveness.contract.js";
import { RedisEngine } from "./redis.js";

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await RedisCluster.start(3);
}, 40_000);
afterAll(() => cluster.stop());

const logger = pino({ level: "silent" });

brokerContract("redis-cluster", async (prefix, options) => {
  const e = await RedisEngine.connect({
    target: { clusterUrls: cluster.urls },
    prefix,
    logger,
    idempotencyWindowMs: options.idempotencyWindowMs,
  });
  return { broker: e.broker, history: e.history, close: () => e.close() };
});

/** A Redis Cluster engine whose every master is reached through a {@link LinkProxy} of its own. */
interface ProxiedEngine {
  engine: RedisEngine;
  proxies: LinkProxy[];
  /** How many of the engine's connections, on every master, have `CLIENT LIST` lines matching `kind`. */
  count(kind: RegExp): Promise<number>;
  /** Blackholes the engine's connections whose `CLIENT LIST` lines match `kind` (on the master at `onlyPort`, or every one); returns how many. */
  silence(kind: RegExp, onlyPort?: number): Promise<number>;
  close(): Promise<void>;
}

/** Connects an engine through one proxy per master; the address map makes the cluster client dial the proxies, not the announced ports. */
async function proxiedEngine(log: Logger = logger): Promise<ProxiedEngine> {
  const proxies = new Map<number, LinkProxy>();
  const closeProxies = (): Promise<unknown> => Promise.all([...proxies.values()].map((p) => p.close()));
  try {
    const urls: string[] = [];
    const nodeAddressMap: Record<string, RedisNodeAddress> = {};
    for (const port of cluster.ports) {
      const proxy = new LinkProxy({ host: "127.0.0.1", port });
      proxies.set(port, proxy);
      const url = await proxy.start();
      urls.push(url);
      nodeAddressMap[`127.0.0.1:${port}`] = { host: "127.0.0.1", port: Number(new URL(url).port) };
    }
    const engine = await RedisEngine.connect({
      target: { clusterUrls: urls, nodeAddressMap },
      prefix: `t-${randomUUID()}:`,
      logger: log,
    });
    /** Per master, the engine's connections (by the upstream port of the master's proxy, where Redis lists them) matching `kind`. */
    const matching = async (kind: RegExp, onlyPort?: number): Promise<{ proxy: LinkProxy; ports: number[] }[]> =>
      Promise.all(
        [...proxies]
          .filter(([port]) => onlyPort === undefined || port === onlyPort)
          .map(async ([port, proxy]) => {
            const lines = (await cluster.cli(port, "CLIENT", "LIST")).split("\n").filter((l) => kind.test(l));
            const ports = lines
              .map((l) => Number(/addr=[^ ]*:(\d+)/.exec(l)?.[1]))
              .filter((p) => proxy.upstreamPorts.includes(p));
            return { proxy, ports };
          }),
      );
    return {
      engine,
      proxies: [...proxies.values()],
      count: async (kind) => (await matching(kind)).reduce((sum, m) => sum + m.ports.length, 0),
      silence: async (kind, onlyPort) =>
        (await matching(kind, onlyPort)).reduce(
          (sum, { proxy, ports }) => sum + proxy.blackhole((p) => ports.includes(p)),
          0,
        ),
      close: async () => {
        await engine.close().catch(() => undefined); // a link the test left cut may fail the goodbye; the proxies close it anyway
        await closeProxies();
      },
    };
  } catch (err) {
    await closeProxies();
    throw err;
  }
}

/** `CLIENT LIST` lines of sharded and of plain subscribers. */
const SHARDED_SUBSCRIBER = /\bssub=[1-9]/;
const PLAIN_SUBSCRIBER = /\bsub=[1-9]/;
/** `CLIENT LIST` lines of connections subscribed to nothing: the command connections. */
const COMMAND_CONNECTION = /\bsub=0 psub=0 ssub=0\b/;

linkLivenessContract("redis-cluster", async () => {
  const under = await proxiedEngine();
  const faults = {
    silenceSubscriber: async () => {
      expect(await under.silence(SHARDED_SUBSCRIBER)).toBe(1); // the one shard that holds the contract's channel
    },
    cut: () => {
      for (const proxy of under.proxies) proxy.setMode("reset");
    },
    heal: () => {
      for (const proxy of under.proxies) proxy.setMode("forward");
    },
  };
  return { engine: under.engine, faults, close: () => under.close() };
});

describe("redis cluster engine: pub/sub link liveness specifics", () => {
  const open: ProxiedEngine[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((e) => e.close()));
  });

  /** A started engine subscribed to `channels`, counting what it delivers, resyncs and dead links. */
  async function started(channels: string[], log?: Logger) {
    const under = await proxiedEngine(log);
    open.push(under);
    const counts = { resyncs: 0, dead: 0, commandDead: 0, control: [] as string[], got: [] as string[] };
    under.engine.observe({
      reconnected: () => undefined,
      error: () => undefined,
      linkDead: (link) => {
        if (link === "pubsub") counts.dead += 1;
        else counts.commandDead += 1;
      },
    });
    await under.engine.broker.start({
      publication: (pub) => counts.got.push(new TextDecoder().decode(pub.data)),
      join: () => undefined,
      leave: () => undefined,
      resync: () => (counts.resyncs += 1),
      control: (message) => counts.control.push(new TextDecoder().decode(message)),
    });
    await under.engine.broker.subscribe(channels);
    return { under, engine: under.engine, counts };
  }

  const HISTORY = { size: 10, ttlMs: 60_000, metaTtlMs: 120_000 };
  const publish = (engine: RedisEngine, channel: string, text: string): Promise<unknown> =>
    engine.broker.publish({ channel, data: new TextEncoder().encode(text) }, HISTORY);

  it("replaces a silent plain pub/sub link (the control channel's) and counts one dead link", async () => {
    const { under, engine, counts } = await started(["live:plain"]);
    expect(await under.silence(PLAIN_SUBSCRIBER)).toBe(1);
    // The replacement takes a few ms, too short to poll readiness for: the dead-link count tells.
    await eventually(() => counts.dead > 0, SILENT_LINK_BOUND_MS, "the engine to notice the silent control link");
    await eventually(
      () => engine.isReady() && counts.resyncs === 1,
      SILENT_LINK_BOUND_MS,
      "a new control link and one resync",
    );
    expect(counts.dead).toBe(1);
    await engine.broker.publishControl(new TextEncoder().encode("survey"));
    await eventually(() => counts.control.includes("survey"), 5_000, "a control message on the new link");
  });

  it("after a cut of every shard asks for one resync, once every pub/sub link is back", async () => {
    // Channels on every shard, so each master holds a sharded pub/sub connection.
    const channels = Array.from({ length: 12 }, (_, i) => `live:spread${i}`);
    const { under, engine, counts } = await started(channels);
    expect(await under.count(SHARDED_SUBSCRIBER)).toBe(cluster.ports.length);
    for (const proxy of under.proxies) proxy.setMode("reset");
    await eventually(() => !engine.isReady(), SILENT_LINK_BOUND_MS, "the engine to report not ready");
    for (const proxy of under.proxies) proxy.setMode("forward");
    await eventually(
      () => engine.isReady() && counts.resyncs > 0,
      10_000,
      "the engine to be ready again and ask for a resync",
    );
    expect(counts.resyncs).toBe(1);
    expect(counts.dead).toBe(0); // resets are the client's to reconnect; nothing went silent
    await Promise.all(channels.map((channel) => publish(engine, channel, `back ${channel}`)));
    await eventually(
      () => channels.every((channel) => counts.got.includes(`back ${channel}`)),
      5_000,
      "delivery on every shard",
    );
  });

  it("keeps the node unready while one master's command link is silent, however well the other masters answer", {
    timeout: 30_000,
  }, async () => {
    const { under, engine, counts } = await started(["live:command"]);
    // Each master in turn would do; the last is one that commands without a key are not sent to.
    const silenced = cluster.ports.at(-1) as number;
    expect(await under.silence(COMMAND_CONNECTION, silenced)).toBe(1);
    // Within the ping interval plus the command timeout (5 s).
    await eventually(() => !engine.isReady(), 8_000, "the engine to notice the silent command link");
    expect(counts.commandDead).toBe(1);
    // The other masters answer their PINGs every second meanwhile; none of that makes it ready.
    for (let checks = 0; checks < 25; checks++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(engine.isReady()).toBe(false);
    }
    expect(counts.commandDead).toBe(1); // logged and counted once per silent episode
  });

  it("keeps retrying while a replacement connection stays silent too, and recovers once one answers", {
    timeout: 30_000,
  }, async () => {
    const lines: string[] = [];
    const log = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });
    const { under, engine, counts } = await started(["live:stalled"], log);
    for (const proxy of under.proxies) proxy.setMode("blackhole"); // new connections are accepted and carry nothing
    expect(await under.silence(SHARDED_SUBSCRIBER)).toBe(1);
    await eventually(() => counts.dead > 0, SILENT_LINK_BOUND_MS, "the engine to notice the silent link");
    await eventually(
      () => lines.some((l) => l.includes("replacing a redis cluster pub/sub connection failed")),
      10_000,
      "a replacement attempt to give up",
    );
    expect(engine.isReady()).toBe(false);
    for (const proxy of under.proxies) proxy.setMode("forward");
    await eventually(
      () => engine.isReady() && counts.resyncs === 1,
      10_000,
      "a replacement that answers, and one resync",
    );
    expect(counts.dead).toBe(1);
    await publish(engine, "live:stalled", "after");
    await eventually(() => counts.got.includes("after"), 5_000, "delivery on the new link");
  });
});
