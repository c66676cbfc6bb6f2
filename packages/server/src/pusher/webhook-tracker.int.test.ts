import { randomUUID } from "node:crypto";
import type { RedisConnection } from "@hubcast/emitter";
import { RedisKeys, connectRedis } from "@hubcast/emitter";
import type { ClientInfo } from "@hubcast/protocol";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { eventually } from "../../../../test/support/eventually.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { trackTimers } from "../../../../test/support/timers.js";
import { MemoryPresence } from "../presence/memory.js";
import type { PresenceStore } from "../presence/presence.js";
import { RedisPresence } from "../presence/redis.js";
import { resolvePusherApps } from "./apps.js";
import type { ResolvedPusherApp, WebhookEventName } from "./apps.js";
import { WebhookTracker, leavingChannel, occupancyChannel } from "./webhook-tracker.js";
import type { WebhookEvent } from "./webhooks.js";

const DELAY_MS = 200;
const logger = pino({ level: "silent" });

function appWith(id: string, events?: WebhookEventName[]): ResolvedPusherApp {
  const webhooks = events === undefined ? [] : [{ url: "http://127.0.0.1:9/never-called", events }];
  const [app] = resolvePusherApps([{ id, key: `key-${id}`, secret: "tracker-secret", webhooks }]);
  if (app === undefined) throw new Error("no app");
  return app;
}

const APP = appWith("1", ["channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event"]);
const HC = "pusher.1:room"; // the Hubcast channel of Pusher channel "room"

/** Two nodes' views of one cluster's presence store. */
interface Stores {
  a: PresenceStore;
  b: PresenceStore;
  close(): Promise<void>;
}

interface Sent {
  node: string;
  event: WebhookEvent;
}

function trackerSuite(name: string, makeStores: () => Promise<Stores>): void {
  describe(`WebhookTracker on ${name}`, () => {
    let stores: Stores;
    let sent: Sent[];
    let a: WebhookTracker;
    let b: WebhookTracker;
    const node = (nodeId: string, presence: PresenceStore): WebhookTracker =>
      new WebhookTracker({
        nodeId,
        presence,
        refreshMs: 1_000,
        delayMs: DELAY_MS,
        logger,
        send: (_app, event) => sent.push({ node: nodeId, event }),
      });

    beforeEach(async () => {
      stores = await makeStores();
      sent = [];
      a = node("node-a", stores.a);
      b = node("node-b", stores.b);
    });
    afterEach(async () => {
      await a.close();
      await b.close();
      await stores.close();
    });

    const events = (): WebhookEvent[] => sent.map((s) => s.event);
    const settled = async (): Promise<void> => {
      await a.settled();
      await b.settled();
    };
    const occupancy = async (): Promise<string[]> => Object.keys(await stores.a.get(occupancyChannel(APP, HC))).sort();
    const markers = async (): Promise<ClientInfo[]> => Object.values(await stores.a.get(leavingChannel(APP, HC)));
    const occupied = { name: "channel_occupied", channel: "room" };
    const vacated = { name: "channel_vacated", channel: "room" };

    it("sends channel_occupied once when two nodes occupy, channel_vacated only once both left", async () => {
      a.occupiedLocally(APP, "room", HC);
      b.occupiedLocally(APP, "room", HC);
      await settled();
      expect(await occupancy()).toEqual(["node-a", "node-b"]);
      expect(sent).toEqual([{ node: "node-a", event: occupied }]);

      a.vacatedLocally(APP, "room", HC);
      await eventually(async () => (await occupancy()).length === 1, 5_000, "node-a's entry to go");
      await settled();
      expect(events()).toEqual([occupied]);

      b.vacatedLocally(APP, "room", HC);
      await eventually(() => sent.length === 2, 5_000, "channel_vacated");
      expect(sent[1]).toEqual({ node: "node-b", event: vacated });
      expect(await occupancy()).toEqual([]);
    });

    it("sends nothing for a channel left and joined again within the delay on the same node", async () => {
      a.occupiedLocally(APP, "room", HC);
      await settled();
      a.vacatedLocally(APP, "room", HC);
      a.occupiedLocally(APP, "room", HC);
      // A vacate that does happen: a vacated from the first one would have come before it.
      a.vacatedLocally(APP, "room", HC);
      await eventually(() => sent.length === 2, 5_000, "the second vacate's channel_vacated");
      await settled();
      expect(events()).toEqual([occupied, vacated]);
    });

    it("sends nothing when a channel moves to another node within the delay (a reload)", async () => {
      a.occupiedLocally(APP, "room", HC);
      await settled();
      a.vacatedLocally(APP, "room", HC);
      b.occupiedLocally(APP, "room", HC);
      await eventually(async () => (await occupancy()).join() === "node-b", 5_000, "node-a's delay to end");
      await settled();
      expect(events()).toEqual([occupied]);

      b.vacatedLocally(APP, "room", HC);
      await eventually(() => sent.length === 2, 5_000, "channel_vacated");
      expect(events()).toEqual([occupied, vacated]);
    });

    it("reports a channel vacated after the delay and occupied again, in order", async () => {
      a.occupiedLocally(APP, "room", HC);
      a.vacatedLocally(APP, "room", HC);
      await eventually(() => sent.length === 2, 5_000, "channel_vacated");
      b.occupiedLocally(APP, "room", HC);
      await eventually(() => sent.length === 3, 5_000, "channel_occupied again");
      expect(sent).toEqual([
        { node: "node-a", event: occupied },
        { node: "node-a", event: vacated },
        { node: "node-b", event: occupied },
      ]);
    });

    it("sends member_removed after the delay, and nothing for a user back within it on the same node", async () => {
      a.memberAdded(APP, "presence-room", HC, "ann");
      await settled();
      a.memberRemoved(APP, "presence-room", HC, "bob"); // bob comes back
      a.memberAdded(APP, "presence-room", HC, "bob");
      a.memberRemoved(APP, "presence-room", HC, "ann");
      await eventually(() => sent.length === 2, 5_000, "member_removed");
      await settled();
      expect(events()).toEqual([
        { name: "member_added", channel: "presence-room", user_id: "ann" },
        { name: "member_removed", channel: "presence-room", user_id: "ann" },
      ]);
      expect(await markers()).toEqual([]);
    });

    it("sends no member_removed while another connection of the user remains", async () => {
      await stores.b.add(HC, { client: "b-conn", user: "ann" });
      a.memberRemoved(APP, "presence-room", HC, "ann");
      await a.settled(); // the leaving marker is in
      await eventually(async () => (await markers()).length === 0, 5_000, "the delay to end");
      await settled();
      expect(events()).toEqual([]);

      await stores.b.remove(HC, "b-conn");
      b.memberRemoved(APP, "presence-room", HC, "ann");
      await eventually(() => sent.length === 1, 5_000, "member_removed");
      expect(sent).toEqual([
        { node: "node-b", event: { name: "member_removed", channel: "presence-room", user_id: "ann" } },
      ]);
    });

    it("sends nothing when a member moves to another node within the delay (a reload)", async () => {
      a.memberRemoved(APP, "presence-room", HC, "ann");
      await a.settled();
      expect(await markers()).toEqual([{ client: JSON.stringify(["node-a", "ann"]), user: "ann" }]);
      await stores.b.add(HC, { client: "b-conn", user: "ann" }); // the caller adds presence first
      b.memberAdded(APP, "presence-room", HC, "ann");
      await eventually(async () => (await markers()).length === 0, 5_000, "node-a's delay to end");
      await settled();
      expect(events()).toEqual([]);

      b.memberAdded(APP, "presence-room", HC, "bob"); // no one is leaving: sent
      await eventually(() => sent.length === 1, 5_000, "member_added");
      expect(events()).toEqual([{ name: "member_added", channel: "presence-room", user_id: "bob" }]);
    });

    it("marks a leaving member before its entry goes, and drops the mark when the user stays", async () => {
      // The caller announces the leave first: once that resolves, any node finds the marker.
      await a.memberLeaving(APP, "presence-room", HC, "ann");
      expect(await markers()).toEqual([{ client: JSON.stringify(["node-a", "ann"]), user: "ann" }]);
      // Another node that finds ann gone from presence now holds back its member_added.
      await stores.b.add(HC, { client: "b-conn", user: "ann" });
      b.memberAdded(APP, "presence-room", HC, "ann");
      await settled();
      expect(events()).toEqual([]);
      // Ann had another connection on a: the mark goes at once, with nothing sent.
      a.memberStayed(APP, "presence-room", HC, "ann");
      await settled();
      expect(await markers()).toEqual([]);
      // A leave that was the last: the mark stays through the delay, then member_removed once presence has no ann.
      await stores.b.remove(HC, "b-conn");
      await a.memberLeaving(APP, "presence-room", HC, "ann");
      a.memberRemoved(APP, "presence-room", HC, "ann");
      await a.settled();
      expect(await markers()).toHaveLength(1);
      await eventually(() => sent.length === 1, 5_000, "member_removed");
      expect(events()).toEqual([{ name: "member_removed", channel: "presence-room", user_id: "ann" }]);
      expect(await markers()).toEqual([]);
    });

    it("close() decides at once: removes its entries, reports what only it held, leaves no timer", async () => {
      const timers = trackTimers();
      onTestFinished(() => timers.restore());
      const c = new WebhookTracker({
        nodeId: "node-c",
        presence: stores.a,
        refreshMs: 1_000,
        delayMs: 60_000,
        logger,
        send: (_app, event) => sent.push({ node: "node-c", event }),
      });
      c.occupiedLocally(APP, "room", HC);
      c.occupiedLocally(APP, "solo", "pusher.1:solo");
      await c.settled();
      b.occupiedLocally(APP, "room", HC);
      c.memberRemoved(APP, "presence-room", HC, "ann");
      await settled();
      await c.settled();
      c.vacatedLocally(APP, "solo", "pusher.1:solo");
      await c.close();
      expect(timers.pending()).toBe(0);
      const fromC = sent.filter((s) => s.node === "node-c").map((s) => s.event);
      expect(fromC.slice(0, 2)).toEqual([occupied, { name: "channel_occupied", channel: "solo" }]);
      expect(fromC.slice(2)).toHaveLength(2);
      expect(fromC.slice(2)).toEqual(
        expect.arrayContaining([
          { name: "channel_vacated", channel: "solo" },
          { name: "member_removed", channel: "presence-room", user_id: "ann" },
        ]),
      );
      expect(await occupancy()).toEqual(["node-b"]);
      expect(await markers()).toEqual([]);
      c.occupiedLocally(APP, "late", "pusher.1:late");
      await c.settled();
      expect(sent.filter((s) => s.node === "node-c")).toHaveLength(4);
    });

    it("costs nothing for apps without a target for the events", async () => {
      let operations = 0;
      const counted = <T>(result: T): T => {
        operations++;
        return result;
      };
      const counting: PresenceStore = {
        add: (channel, info) => counted(stores.a.add(channel, info)),
        remove: (channel, id) => counted(stores.a.remove(channel, id)),
        get: (channel) => counted(stores.a.get(channel)),
        stats: (channel) => counted(stores.a.stats(channel)),
        close: () => Promise.resolve(),
      };
      const d = new WebhookTracker({
        nodeId: "node-d",
        presence: counting,
        refreshMs: 1_000,
        delayMs: DELAY_MS,
        logger,
        send: (_app, event) => sent.push({ node: "node-d", event }),
      });
      onTestFinished(() => d.close());
      for (const app of [appWith("2"), appWith("3", ["client_event"])]) {
        d.occupiedLocally(app, "room", HC);
        d.memberAdded(app, "presence-room", HC, "ann");
        d.memberRemoved(app, "presence-room", HC, "ann");
        d.vacatedLocally(app, "room", HC);
        d.clientEvent(app, { channel: "private-room", event: "client-hi", data: "{}", socket_id: "1.1" });
      }
      await d.close();
      expect(operations).toBe(0);
      expect(events()).toEqual([
        { name: "client_event", channel: "private-room", event: "client-hi", data: "{}", socket_id: "1.1" },
      ]);
    });
  });
}

trackerSuite("the memory presence store", async () => {
  const store = new MemoryPresence();
  return { a: store, b: store, close: () => store.close() };
});

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());

const connect = (): Promise<RedisConnection> => connectRedis({ url: redis.url }, () => undefined);

trackerSuite("Redis, one connection per node", async () => {
  const keys = new RedisKeys(`t-${randomUUID()}:`);
  const [one, two] = await Promise.all([connect(), connect()]);
  return {
    a: new RedisPresence(one, keys, 30_000),
    b: new RedisPresence(two, keys, 30_000),
    close: async () => {
      await one.close();
      await two.close();
    },
  };
});

describe("WebhookTracker refresh", () => {
  it("re-adds its occupancy entries so they outlive the store's TTL", async () => {
    const keys = new RedisKeys(`t-${randomUUID()}:`);
    const connection = await connect();
    onTestFinished(() => connection.close());
    const ttlMs = 300;
    const tracker = new WebhookTracker({
      nodeId: "node-a",
      presence: new RedisPresence(connection, keys, ttlMs),
      refreshMs: 100,
      delayMs: DELAY_MS,
      logger,
      send: () => undefined,
    });
    onTestFinished(() => tracker.close());
    tracker.occupiedLocally(APP, "room", HC);
    await tracker.settled();
    const expiry = async (): Promise<number> =>
      Number(await redis.cli("ZSCORE", keys.presenceExpiry(occupancyChannel(APP, HC)), "node-a"));
    const first = await expiry();
    await eventually(async () => (await expiry()) > first + 2 * ttlMs, 5_000, "refreshes past two TTLs");
    const store = new RedisPresence(connection, keys, ttlMs);
    expect(Object.keys(await store.get(occupancyChannel(APP, HC)))).toEqual(["node-a"]);
  });
});
