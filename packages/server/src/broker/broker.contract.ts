import { randomUUID } from "node:crypto";
import type { ClientInfo, RawPublication } from "@hubcast/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HistoryStore } from "../history/history.js";
import { eventually } from "../../../../test/support/eventually.js";
import { PublishExpiredError } from "./broker.js";
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

/** What the contract asks of an engine besides a key prefix. */
export interface BrokerContractOptions {
  /** The engine's idempotency window, in ms: short, so a test can outlive it. */
  idempotencyWindowMs: number;
}

/** The idempotency window the contract runs engines with, in ms. */
const WINDOW_MS = 300;

/**
 * The contract every Broker (with its HistoryStore) passes. `make` gets a unique key prefix
 * and the options the engine must be built with.
 */
export function brokerContract(
  name: string,
  make: (prefix: string, options: BrokerContractOptions) => Promise<BrokerUnderTest>,
): void {
  describe(`Broker contract: ${name}`, () => {
    let under: BrokerUnderTest;
    let inbox: Inbox;
    beforeEach(async () => {
      under = await make(`t-${randomUUID()}:`, { idempotencyWindowMs: WINDOW_MS });
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
      const since = await under.history.read(
        "h",
        { limit: 2, since: { offset: 5, epoch: all.position.epoch } },
        HISTORY,
      );
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

    describe("idempotent publish", () => {
      // A fresh key per test: the engines may share a store between tests.
      const key = (): string => randomUUID();

      it("returns the first position for a repeated key and delivers it once", async () => {
        await under.broker.subscribe(["k"]);
        const k = key();
        const first = await under.broker.publish({ channel: "k", data: utf8("once") }, HISTORY, { idempotencyKey: k });
        const again = await under.broker.publish({ channel: "k", data: utf8("twice") }, HISTORY, { idempotencyKey: k });
        expect(again).toEqual(first);
        await under.broker.publish({ channel: "k", data: utf8("marker") }, HISTORY);
        await inbox.until(() => inbox.publications.length === 2, "the publication and the marker");
        expect(inbox.publications.map((p) => [text(p.data), p.offset])).toEqual([
          ["once", 1],
          ["marker", 2],
        ]);
        const page = await under.history.read("k", { limit: 10 }, HISTORY);
        expect(page.publications.map((p) => text(p.data))).toEqual(["once", "marker"]);
      });

      it("does not deliver a repeated key without history either", async () => {
        await under.broker.subscribe(["kn"]);
        const k = key();
        expect(
          await under.broker.publish({ channel: "kn", data: utf8("once") }, NO_HISTORY, { idempotencyKey: k }),
        ).toBeUndefined();
        expect(
          await under.broker.publish({ channel: "kn", data: utf8("twice") }, NO_HISTORY, { idempotencyKey: k }),
        ).toBeUndefined();
        await under.broker.publish({ channel: "kn", data: utf8("marker") }, NO_HISTORY);
        await inbox.until(() => inbox.publications.length === 2, "the publication and the marker");
        expect(inbox.publications.map((p) => text(p.data))).toEqual(["once", "marker"]);
      });

      it("keeps keys per channel: the same key in another channel publishes", async () => {
        await under.broker.subscribe(["ka", "kb"]);
        const k = key();
        const a = await under.broker.publish({ channel: "ka", data: utf8("a") }, HISTORY, { idempotencyKey: k });
        const b = await under.broker.publish({ channel: "kb", data: utf8("b") }, HISTORY, { idempotencyKey: k });
        expect(a?.offset).toBe(1);
        expect(b?.offset).toBe(1);
        await inbox.until(() => inbox.publications.length === 2, "both publications");
        expect(inbox.publications.map((p) => p.channel).sort()).toEqual(["ka", "kb"]);
      });

      it("refuses a publish past its deadline: nothing kept, nothing delivered, the key stays unused", async () => {
        await under.broker.subscribe(["d"]);
        const k = key();
        const late = under.broker.publish({ channel: "d", data: utf8("late") }, HISTORY, {
          idempotencyKey: k,
          deadline: Date.now() - 1,
        });
        await expect(late).rejects.toBeInstanceOf(PublishExpiredError);
        const page = await under.history.read("d", { limit: 10 }, HISTORY);
        expect(page.publications).toEqual([]);
        const retried = await under.broker.publish({ channel: "d", data: utf8("retry") }, HISTORY, {
          idempotencyKey: k,
          deadline: Date.now() + 5_000,
        });
        expect(retried?.offset).toBe(1);
        await inbox.until(() => inbox.publications.length === 1, "the retry");
        expect(inbox.publications.map((p) => text(p.data))).toEqual(["retry"]);
      });

      it("publishes anew once the key's window has passed", async () => {
        const k = key();
        const first = await under.broker.publish({ channel: "w", data: utf8("1") }, HISTORY, { idempotencyKey: k });
        // Each attempt inside the window is a no-op returning the first position, so retrying
        // until one is made waits for the window without sleeping a guessed time.
        await eventually(
          async () =>
            (await under.broker.publish({ channel: "w", data: utf8("2") }, HISTORY, { idempotencyKey: k }))?.offset ===
            2,
          5_000,
          "the window to pass",
        );
        expect(first?.offset).toBe(1);
        const page = await under.history.read("w", { limit: 10 }, HISTORY);
        expect(page.publications.map((p) => text(p.data))).toEqual(["1", "2"]);
      });
    });
  });
}
