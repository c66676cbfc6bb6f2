import type { ClientInfo, MembersPush } from "@hubcast/protocol";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ChannelChanges, JoinLeaveBatch } from "./join-leave.js";

const member = (client: string): ClientInfo => ({ client, user: `u-${client}` });
const names = (push: MembersPush | undefined) =>
  push === undefined
    ? undefined
    : { leaves: push.leaves.map((i) => i.client), joins: push.joins.map((i) => i.client), summary: push.summary };

describe("ChannelChanges", () => {
  it("lists leaves then joins, each in the order heard", () => {
    const changes = new ChannelChanges(10);
    changes.add("join", member("a"));
    changes.add("leave", member("x"));
    changes.add("join", member("b"));
    changes.add("leave", member("y"));
    expect(names(changes.toPush("room"))).toEqual({ leaves: ["x", "y"], joins: ["a", "b"], summary: undefined });
  });

  it("drops a join and the leave of the same connection in one period, and keeps a leave then a rejoin", () => {
    const changes = new ChannelChanges(10);
    changes.add("join", member("a"));
    changes.add("leave", member("a"));
    expect(changes.toPush("room")).toBeUndefined();
    changes.add("leave", member("b")); // joined in an earlier period
    changes.add("join", member("b")); // subscribed again
    changes.add("join", member("c"));
    changes.add("leave", member("c"));
    changes.add("join", member("c"));
    expect(names(changes.toPush("room"))).toEqual({ leaves: ["b"], joins: ["b", "c"], summary: undefined });
  });

  it("past maxEntries keeps only the counts, and compacts cancelled slots below it", () => {
    const changes = new ChannelChanges(3);
    for (let i = 0; i < 1_000; i += 1) {
      changes.add("join", member(`churn-${i}`));
      changes.add("leave", member(`churn-${i}`));
    }
    changes.add("join", member("a"));
    changes.add("join", member("b"));
    changes.add("leave", member("z"));
    expect(names(changes.toPush("room"))).toEqual({ leaves: ["z"], joins: ["a", "b"], summary: undefined });
    changes.add("join", member("c"));
    changes.add("leave", member("a")); // no cancelling once only counts are kept
    expect(changes.toPush("room")).toEqual({
      channel: "room",
      leaves: [],
      joins: [],
      summary: { joins: 3, leaves: 2 },
    });
  });
});

describe("JoinLeaveBatch", () => {
  let batch: JoinLeaveBatch | undefined;
  afterEach(() => batch?.close());

  function make(subscribed: Set<string>, batched = (_channel: string) => true) {
    const pushes: MembersPush[] = [];
    const single: string[] = [];
    batch = new JoinLeaveBatch(
      { intervalMs: 10_000, maxEntries: 100 },
      {
        batched,
        hasSubscribers: (channel) => subscribed.has(channel),
        deliverBatch: (push) => pushes.push(push),
        deliverOne: (type, channel, info) => single.push(`${type} ${channel} ${info.client}`),
        logger: pino({ level: "silent" }),
      },
    );
    return { batch, pushes, single };
  }

  it("sends one push per channel per period, only for channels with local subscribers", () => {
    const { batch, pushes } = make(new Set(["a", "b"]));
    batch.heard("join", "a", member("1"));
    batch.heard("join", "b", member("2"));
    batch.heard("join", "a", member("3"));
    batch.heard("join", "elsewhere", member("4"));
    expect(pushes).toEqual([]);
    batch.flush();
    expect(pushes.map((p) => [p.channel, names(p)?.joins])).toEqual([
      ["a", ["1", "3"]],
      ["b", ["2"]],
    ]);
    batch.flush();
    expect(pushes).toHaveLength(2);
  });

  it("passes the changes of unbatched channels on at once, one by one", () => {
    const { batch, pushes, single } = make(new Set(["p"]), (channel) => channel !== "p");
    batch.heard("join", "p", member("1"));
    batch.heard("leave", "p", member("1"));
    expect(single).toEqual(["join p 1", "leave p 1"]);
    batch.flush();
    expect(pushes).toEqual([]);
  });

  it("flushes on its own timer", async () => {
    const pushes: MembersPush[] = [];
    const delivered = new Promise<void>((resolve) => {
      batch = new JoinLeaveBatch(
        { intervalMs: 10, maxEntries: 100 },
        {
          batched: () => true,
          hasSubscribers: () => true,
          deliverBatch: (push) => {
            pushes.push(push);
            resolve();
          },
          deliverOne: () => undefined,
          logger: pino({ level: "silent" }),
        },
      );
    });
    batch?.heard("join", "a", member("1"));
    await delivered;
    expect(names(pushes[0])?.joins).toEqual(["1"]);
  });
});
