import { describe, expect, it } from "vitest";
import type { SurveyOptions } from "../control.js";
import type { NodeInfo } from "../registry/registry.js";
import { AdminCluster } from "./cluster.js";
import { AdminQuestion, answerAdminQuestion } from "./questions.js";
import type { LocalNode, NodeStats } from "./questions.js";

const stats = (id: string, address: string): NodeStats => ({
  id,
  address,
  version: "1.0.0",
  uptimeMs: 1_000,
  ready: true,
  connections: 2,
  subscriptions: 3,
  channels: 1,
  publicationsPerSecond: 4,
  deliveriesPerSecond: 8,
  rssBytes: 50_000_000,
  eventLoopLagMs: 0.5,
});

/** A node answering from fixed state. */
function local(id: string, channels: [string, number, number][], users: string[]): LocalNode {
  return {
    stats: () => stats(id, `http://${id}`),
    history: () => [[1, 2, 3, 4, 5, 6]],
    channels: () =>
      channels.map(([name, subscribers, publicationsPerSecond]) => ({ name, subscribers, publicationsPerSecond })),
    subscribers: (channel) => channels.find(([name]) => name === channel)?.[1] ?? 0,
    connectedUsers: () => users,
  };
}

/** A cluster of `locals` answering in-process, plus `extra` raw answers (other versions, garbage). */
function clusterOf(locals: LocalNode[], extra: Record<string, unknown> = {}, registry: NodeInfo[] = []): AdminCluster {
  return new AdminCluster({
    nodeId: "b",
    now: () => 10_000,
    registry: async () => registry,
    survey: async (question: string, options: SurveyOptions) => {
      const answers = new Map<string, unknown>();
      for (const node of locals) answers.set(node.stats().id, answerAdminQuestion(question, options.args, node));
      for (const [id, answer] of Object.entries(extra)) answers.set(id, answer);
      return answers;
    },
  });
}

describe("AdminCluster", () => {
  const a = local(
    "a",
    [
      ["chat:x", 2, 1],
      ["chat:y", 1, 9],
      ["news", 5, 0],
    ],
    ["alice", "alice", ""],
  );
  const b = local("b", [["chat:x", 3, 1.5]], ["bob", "alice"]);

  it("sums subscribers, takes the highest rate, sorts, filters by prefix and counts matches", async () => {
    const cluster = clusterOf([a, b], { c: null, d: { channels: [["chat:x", "NaN", 1], "junk"], matching: 1e9 } });
    expect(await cluster.channels({ prefix: "chat:", sort: "subscribers", limit: 50 })).toEqual({
      channels: [
        { name: "chat:x", subscribers: 5, publicationsPerSecond: 1.5 },
        { name: "chat:y", subscribers: 1, publicationsPerSecond: 9 },
      ],
      total: 1e9, // a lower bound when a node had more matches than it sent
    });
    const byRate = await clusterOf([a, b]).channels({ prefix: "", sort: "rate", limit: 1 });
    expect(byRate).toEqual({ channels: [{ name: "chat:y", subscribers: 1, publicationsPerSecond: 9 }], total: 3 });
  });

  it("sums users' connections, anonymous ones as user empty", async () => {
    expect(await clusterOf([a, b]).users({ prefix: "", limit: 50 })).toEqual({
      users: [
        { user: "alice", connections: 3 },
        { user: "", connections: 1 },
        { user: "bob", connections: 1 },
      ],
    });
    expect(await clusterOf([a, b]).subscribers("chat:x")).toBe(5);
  });

  it("lists the asking node first and registry nodes that did not answer as not ready", async () => {
    const silent: NodeInfo = {
      id: "z",
      address: "http://0",
      version: "0.9.0",
      startedAt: 4_000,
      connections: 7,
      subscriptions: 0,
      channels: 0,
    };
    const { nodes, history } = await clusterOf([a, b], { bogus: { node: { id: 1 } } }, [silent]).cluster();
    expect(nodes.map((n) => [n.id, n.self, n.ready])).toEqual([
      ["b", true, true],
      ["z", false, false],
      ["a", false, true],
    ]);
    expect(nodes[1]).toMatchObject({ uptimeMs: 6_000, connections: 7, rssBytes: 0 });
    expect(history).toEqual({ a: [[1, 2, 3, 4, 5, 6]], b: [[1, 2, 3, 4, 5, 6]], z: [] });
  });

  it("answers nothing to questions or arguments it does not know", () => {
    expect(answerAdminQuestion("admin-unknown", undefined, a)).toBeNull();
    expect(answerAdminQuestion(AdminQuestion.channels, { prefix: "", sort: "name", limit: 5 }, a)).toBeNull();
    expect(answerAdminQuestion(AdminQuestion.channels, { prefix: "", sort: "rate", limit: 10_000 }, a)).toBeNull();
    expect(answerAdminQuestion(AdminQuestion.users, "x", a)).toBeNull();
    expect(answerAdminQuestion(AdminQuestion.channel, 5, a)).toBeNull();
  });
});
