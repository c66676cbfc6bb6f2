import { randomUUID } from "node:crypto";
import type { ClientInfo, RawPublication } from "@hubcast/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HistoryStore } from "../history/history.js";
import type { Broker } from "./broker.js";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(JSON.stringify(s));
const text = (b: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(b));
const HISTORY = { size: 5, ttlMs: 60_000, metaTtlMs: 600_000 };
const NO_HISTORY = { size: 0, ttlMs: 60_000, metaTtlMs: 600_000 };

/** A broker and the history store its publishes append to, as one engine provides them. */
export interface BrokerUnderTest {
  broker: Broker;
  history: HistoryStore;
  close(): Promise<void>;
}

/** Records what a broker hands to its node, and lets tests await it. */
class Inbox {
  readonly publications: RawPublication[] = [];
  readonly events: string[] = [];
  private waiters: (() => void)[] = [];
  readonly handlers = {
    publication: (pub: RawPublication) => this.add(() => this.publications.push(pub)),
    join: (channel: string, info: ClientInfo) => this.add(() => this.events.push(`join ${channel} ${info.client}`)),
    leave: (channel: string, info: ClientInfo) => this.add(() => this.events.push(`leave ${channel} ${info.client}`)),
    resync: () => this.add(() => this.events.push("resync")),
    control: (message: Uint8Array) => this.add(() => this.events.push(`control ${new TextDecoder().decode(message)}`)),
  };

  private add(record: () => void): void {
    record();
    for (const wake of this.waiters.splice(0)) wake();
  }

  async until(check: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100); // re-check at least every 100 ms
      });
    }
  }
}

/** The contract every Broker (with its HistoryStore) passes. `make` gets a unique key prefix. */
export function brokerContract(name: string, make: (prefix: string) => Promise<BrokerUnderTest>): void {
  describe(`Broker contract: ${name}`, () => {
    let under: BrokerUnderTest;
    let inbox: Inbox;
    beforeEach(async () => {
      under = await make(`t-${randomUUID()}:`);
      inbox = new Inbox();
      await under.broker.start(inbox.handlers);
    });
    afterEach(() => under.close());

    it("assigns consecutive offsets within one epoch", async () => {
      const a = await under.broker.publish({ channel: "chat", data: utf8("1") }, HISTORY);
      const b = await under.broker.publish({ channel: "chat", data: utf8("2") }, HISTORY);
      expect(a?.offset).toBe(1);
      expect(b).toEqual({ offset: 2, epoch: a?.epoch });
    });

    it("delivers only subscribed channels, in offset order, until unsubscribed", async () => {
      await under.broker.subscribe(["a", "b"]);
      for (let i = 1; i <= 3; i++) await under.broker.publish({ channel: "a", data: utf8(`a${i}`) }, HISTORY);
      await under.broker.publish({ channel: "c", data: utf8("c1") }, HISTORY);
      await under.broker.publish({ channel: "b", data: utf8("b1") }, NO_HISTORY);
      await inbox.until(() => inbox.publications.length === 4, "4 publications");
      expect(inbox.publications.map((p) => [p.channel, text(p.data), p.offset])).toEqual([
        ["a", "a1", 1],
        ["a", "a2", 2],
        ["a", "a3", 3],
        ["b", "b1", undefined],
      ]);
      await under.broker.unsubscribe(["a"]);
      await under.broker.publish({ channel: "a", data: utf8("a4") }, HISTORY);
      await under.broker.publish({ channel: "b", data: utf8("b2") }, NO_HISTORY);
      await inbox.until(() => inbox.publications.length === 5, "b2");
      expect(inbox.publications.at(-1)?.channel).toBe("b");
    });

    it("carries the publisher's info", async () => {
      await under.broker.subscribe(["i"]);
      const info = { client: "c1", user: "u1", info: { name: "Ann" } };
      await under.broker.publish({ channel: "i", data: utf8("x"), info }, HISTORY);
      await inbox.until(() => inbox.publications.length === 1, "publication");
      expect(inbox.publications[0]?.info).toEqual(info);
    });

    it("returns no position without history, and keeps nothing", async () => {
      expect(await under.broker.publish({ channel: "n", data: utf8("x") }, NO_HISTORY)).toBeUndefined();
      const page = await under.history.read("n", { limit: 10 }, HISTORY);
      expect(page.publications).toEqual([]);
    });

    it("keeps the newest `size` publications and reads them by since, limit and reverse", async () => {
      for (let i = 1; i <= 8; i++) await under.broker.publish({ channel: "h", data: utf8(`m${i}`) }, HISTORY);
      const all = await under.history.read("h", { limit: 100 }, HISTORY);
      expect(all.publications.map((p) => p.offset)).toEqual([4, 5, 6, 7, 8]);
      expect(all.position.offset).toBe(8);
      const since = await under.history.read("h", { limit: 2, since: { offset: 5, epoch: all.position.epoch } }, HISTORY);
      expect(since.publications.map((p) => text(p.data))).toEqual(["m6", "m7"]);
      const reverse = await under.history.read("h", { limit: 2, reverse: true }, HISTORY);
      expect(reverse.publications.map((p) => p.offset)).toEqual([8, 7]);
    });

    it("gives a never-published channel offset 0 and keeps its epoch for the next publication", async () => {
      const empty = await under.history.read("fresh", { limit: 0 }, HISTORY);
      expect(empty.position.offset).toBe(0);
      const first = await under.broker.publish({ channel: "fresh", data: utf8("x") }, HISTORY);
      expect(first).toEqual({ offset: 1, epoch: empty.position.epoch });
    });

    it("starts a new epoch after history is removed", async () => {
      const before = await under.broker.publish({ channel: "r", data: utf8("x") }, HISTORY);
      await under.history.remove("r");
      const after = await under.broker.publish({ channel: "r", data: utf8("y") }, HISTORY);
      expect(after?.offset).toBe(1);
      expect(after?.epoch).not.toBe(before?.epoch);
    });

    it("delivers control messages to the sending node too", async () => {
      await under.broker.publishControl(new TextEncoder().encode("hello nodes"));
      await inbox.until(() => inbox.events.includes("control hello nodes"), "control message");
    });

    it("delivers join and leave for subscribed channels only", async () => {
      await under.broker.subscribe(["room"]);
      await under.broker.publishJoin("other", { client: "x", user: "" });
      await under.broker.publishJoin("room", { client: "c1", user: "" });
      await under.broker.publishLeave("room", { client: "c1", user: "" });
      await inbox.until(() => inbox.events.length === 2, "join and leave");
      expect(inbox.events).toEqual(["join room c1", "leave room c1"]);
    });
  });
}
