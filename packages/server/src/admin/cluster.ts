import type { SurveyOptions } from "../control.js";
import type { NodeInfo } from "../registry/registry.js";
import type { AdminNode, ChannelQuery, ChannelsAnswer, NodeStats, UserQuery, UsersAnswer } from "./questions.js";
import { AdminQuestion, compareChannels, compareUsers } from "./questions.js";
import type { StatsSample } from "./stats-sampler.js";
import { HISTORY_SAMPLES } from "./stats-sampler.js";

/** What the cluster view needs: this node's id, a survey of every node, and the registry's list. */
export interface ClusterSource {
  nodeId: string;
  survey(question: string, options: SurveyOptions): Promise<Map<string, unknown>>;
  registry(): Promise<NodeInfo[]>;
  /** @default Date.now */
  now?: () => number;
}

/** One channel across the cluster. */
export interface ClusterChannel {
  name: string;
  /** Summed over the nodes. */
  subscribers: number;
  /** The highest of the nodes' rates: every node with subscribers receives every publication. */
  publicationsPerSecond: number;
}

const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

const STATS_NUMBERS = [
  "uptimeMs",
  "connections",
  "subscriptions",
  "channels",
  "publicationsPerSecond",
  "deliveriesPerSecond",
  "rssBytes",
  "eventLoopLagMs",
] as const;

/** `value` when it is a {@link NodeStats} (answers come from other nodes, maybe other versions). */
function statsOf(value: unknown): NodeStats | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v["id"] !== "string" || typeof v["address"] !== "string" || typeof v["version"] !== "string")
    return undefined;
  if (typeof v["ready"] !== "boolean" || !STATS_NUMBERS.every((k) => isFiniteNumber(v[k]))) return undefined;
  const n = (key: (typeof STATS_NUMBERS)[number]): number => v[key] as number;
  return {
    id: v["id"],
    address: v["address"],
    version: v["version"],
    uptimeMs: n("uptimeMs"),
    ready: v["ready"],
    connections: n("connections"),
    subscriptions: n("subscriptions"),
    channels: n("channels"),
    publicationsPerSecond: n("publicationsPerSecond"),
    deliveriesPerSecond: n("deliveriesPerSecond"),
    rssBytes: n("rssBytes"),
    eventLoopLagMs: n("eventLoopLagMs"),
  };
}

function historyOf(value: unknown): StatsSample[] {
  if (!Array.isArray(value)) return [];
  return value
    .slice(-HISTORY_SAMPLES)
    .filter((s): s is StatsSample => Array.isArray(s) && s.length === 6 && s.every(isFiniteNumber));
}

/**
 * The admin UI's view of the cluster, gathered by surveying every node over the control plane
 * (so it works on every engine and in cluster mode) and merging the answers. Nodes in the
 * registry that did not answer (admin off there, an older version, unreachable) are listed from
 * their registry entry with `ready: false` and zero rates.
 */
export class AdminCluster {
  private readonly now: () => number;

  constructor(private readonly source: ClusterSource) {
    this.now = source.now ?? Date.now;
  }

  /** Every node, this one first, then by address. */
  async nodes(timeoutMs?: number): Promise<AdminNode[]> {
    const [answers, registry] = await Promise.all([
      this.source.survey(AdminQuestion.stats, { timeoutMs }),
      this.source.registry(),
    ]);
    const stats = new Map<string, NodeStats>();
    for (const answer of answers.values()) {
      const node = statsOf(answer);
      if (node !== undefined) stats.set(node.id, node);
    }
    return this.merge(stats, registry);
  }

  /** Every node and each one's sample history (oldest first). */
  async cluster(): Promise<{ nodes: AdminNode[]; history: Record<string, StatsSample[]> }> {
    const [answers, registry] = await Promise.all([
      this.source.survey(AdminQuestion.cluster, {}),
      this.source.registry(),
    ]);
    const stats = new Map<string, NodeStats>();
    const history: Record<string, StatsSample[]> = {};
    for (const answer of answers.values()) {
      if (typeof answer !== "object" || answer === null) continue;
      const { node: nodeAnswer, history: historyAnswer } = answer as Record<string, unknown>;
      const node = statsOf(nodeAnswer);
      if (node === undefined) continue;
      stats.set(node.id, node);
      history[node.id] = historyOf(historyAnswer);
    }
    const nodes = this.merge(stats, registry);
    for (const node of nodes) history[node.id] ??= [];
    return { nodes, history };
  }

  /**
   * Channels with subscribers anywhere whose names start with `query.prefix`, best first by
   * `query.sort`, at most `query.limit`. Each node answers its own best `limit`, so a channel
   * with a few subscribers on many nodes may be counted short; `total` is exact while no node
   * has more than `limit` matches, else a lower bound.
   */
  async channels(query: ChannelQuery): Promise<{ channels: ClusterChannel[]; total: number }> {
    const answers = await this.source.survey(AdminQuestion.channels, { args: query });
    const merged = new Map<string, [string, number, number]>();
    let largest = 0;
    for (const answer of answers.values()) {
      const rows = (answer as Partial<ChannelsAnswer> | null)?.channels;
      if (!Array.isArray(rows)) continue;
      const matching = (answer as ChannelsAnswer).matching;
      if (isFiniteNumber(matching)) largest = Math.max(largest, matching);
      for (const row of rows) {
        if (!Array.isArray(row) || typeof row[0] !== "string" || !isFiniteNumber(row[1]) || !isFiniteNumber(row[2]))
          continue;
        const seen = merged.get(row[0]);
        if (seen === undefined) merged.set(row[0], [row[0], row[1], row[2]]);
        else merged.set(row[0], [row[0], seen[1] + row[1], Math.max(seen[2], row[2])]);
      }
    }
    const rows = [...merged.values()].sort(compareChannels(query.sort)).slice(0, query.limit);
    return {
      channels: rows.map(([name, subscribers, publicationsPerSecond]) => ({
        name,
        subscribers,
        publicationsPerSecond,
      })),
      total: Math.max(merged.size, largest),
    };
  }

  /** Live subscribers of `channel`, summed over the nodes. */
  async subscribers(channel: string): Promise<number> {
    let total = 0;
    for (const answer of (await this.source.survey(AdminQuestion.channel, { args: channel })).values())
      if (isFiniteNumber(answer)) total += answer;
    return total;
  }

  /** Users with connections anywhere whose ids start with `query.prefix`, most connections first, at most `query.limit` (anonymous connections: user `""`). */
  async users(query: UserQuery): Promise<{ users: { user: string; connections: number }[] }> {
    const totals = new Map<string, number>();
    for (const answer of (await this.source.survey(AdminQuestion.users, { args: query })).values()) {
      const rows = (answer as Partial<UsersAnswer> | null)?.users;
      if (!Array.isArray(rows)) continue;
      for (const row of rows) {
        if (!Array.isArray(row) || typeof row[0] !== "string" || !isFiniteNumber(row[1])) continue;
        totals.set(row[0], (totals.get(row[0]) ?? 0) + row[1]);
      }
    }
    const rows = [...totals].sort(compareUsers).slice(0, query.limit);
    return { users: rows.map(([user, connections]) => ({ user, connections })) };
  }

  private merge(stats: ReadonlyMap<string, NodeStats>, registry: readonly NodeInfo[]): AdminNode[] {
    const nodes: AdminNode[] = [...stats.values()].map((s) => ({ ...s, self: s.id === this.source.nodeId }));
    const now = this.now();
    for (const info of registry) {
      if (stats.has(info.id)) continue;
      nodes.push({
        id: info.id,
        address: info.address,
        version: info.version,
        uptimeMs: Math.max(0, now - info.startedAt),
        ready: false,
        connections: info.connections,
        subscriptions: info.subscriptions,
        channels: info.channels,
        publicationsPerSecond: 0,
        deliveriesPerSecond: 0,
        rssBytes: 0,
        eventLoopLagMs: 0,
        self: info.id === this.source.nodeId,
      });
    }
    return nodes.sort(
      (a, b) => Number(b.self) - Number(a.self) || a.address.localeCompare(b.address) || a.id.localeCompare(b.id),
    );
  }
}
