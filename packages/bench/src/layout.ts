import { Scenario } from "./options.js";
import { adapterByName } from "./peers/index.js";
import type { ResolvedBenchOptions } from "./options.js";

/**
 * Who connects where: a pure function of the options, so the coordinator and every worker
 * derive the same plan without shipping one object per connection over IPC.
 *
 * Connections are numbered 0…connections−1 (subscribers, chat members, idle connections)
 * and publishers separately 0…publishers−1. Connection i runs in worker i mod processes, and
 * uses source address ⌊i / processes⌋ mod addresses, so every worker uses every address.
 */
export interface Layout {
  readonly scenario: Scenario;
  readonly subscriberUrls: readonly string[];
  readonly publisherUrls: readonly string[];
  readonly sourceAddresses: readonly string[];
  readonly connections: number;
  readonly channels: number;
  readonly members: number;
  /** Publishing connections or API lanes (fanout, cross-node); chat members publish themselves. */
  readonly publishers: number;
  readonly processes: number;
  readonly namespace: string;
  /** What joins the namespace and a channel's own name: `:`, or the protocol's (Pusher: `-`). */
  readonly namespaceSeparator: string;
  /** True when publishers go through the server API rather than WebSocket connections. */
  readonly apiPublish: boolean;
}

/** One connection's part in the run. */
export interface ConnectionSpec {
  /** Global number among connections (or publishers, for a publisher). */
  readonly index: number;
  readonly url: string;
  /** Source address; the OS picks when undefined. */
  readonly localAddress: string | undefined;
  /** Channel index it subscribes to, or -1 for none. */
  readonly subscribeChannel: number;
  /** Channel index it publishes to, or -1 for none. */
  readonly publishChannel: number;
  /** Its lane (publisher number within the channel), or -1 when it does not publish. */
  readonly lane: number;
}

/** The layout for resolved options. */
export function layoutOf(o: ResolvedBenchOptions): Layout {
  const crossNode = o.scenario === Scenario.crossNode;
  return Object.freeze({
    scenario: o.scenario,
    subscriberUrls: crossNode ? o.urls.slice(1) : [...o.urls],
    publisherUrls: crossNode ? o.urls.slice(0, 1) : [...o.urls],
    sourceAddresses: [...o.sourceAddresses],
    connections: o.connections,
    channels: o.channels,
    members: o.members,
    publishers: o.scenario === Scenario.chat ? 0 : o.publishers,
    processes: o.processes,
    namespace: o.namespace,
    namespaceSeparator: adapterByName(o.protocol).namespaceSeparator ?? ":",
    apiPublish: o.apiUrl !== undefined,
  });
}

/** `<namespace>:<name>` (Pusher: `<namespace>-<name>`), or `name` alone when the namespace is empty. */
function inNamespace(layout: Layout, name: string): string {
  return layout.namespace === "" ? name : `${layout.namespace}${layout.namespaceSeparator}${name}`;
}

/** The name of channel `c`: `<namespace>:<scenario>-<c>` (no namespace prefix when it is empty). */
export function channelName(layout: Layout, c: number): string {
  return inNamespace(layout, `${layout.scenario}-${c}`);
}

/** The channel the preflight publishes its probe to: `<namespace>:probe`, away from the bench channels. */
export function probeChannelName(layout: Layout): string {
  return inNamespace(layout, "probe");
}

/** Publisher lanes per channel: the size of each subscriber's sequence-tracking slot group. */
export function lanesPerChannel(layout: Layout): number {
  if (layout.scenario === Scenario.chat) return layout.members;
  if (layout.scenario === Scenario.connect) return 0;
  return Math.ceil(layout.publishers / layout.channels);
}

/** Connections that publish, in all (chat: every member). */
export function publisherCount(layout: Layout): number {
  return layout.scenario === Scenario.chat ? layout.connections : layout.publishers;
}

function sourceAddress(layout: Layout, i: number): string | undefined {
  const n = layout.sourceAddresses.length;
  return n === 0 ? undefined : layout.sourceAddresses[Math.floor(i / layout.processes) % n];
}

/** Connection `i`'s spec. */
export function connectionSpec(layout: Layout, i: number): ConnectionSpec {
  const url = layout.subscriberUrls[i % layout.subscriberUrls.length] as string;
  const localAddress = sourceAddress(layout, i);
  switch (layout.scenario) {
    case Scenario.connect:
      return {
        index: i,
        url,
        localAddress,
        subscribeChannel: layout.channels > 0 ? i % layout.channels : -1,
        publishChannel: -1,
        lane: -1,
      };
    case Scenario.chat: {
      const channel = Math.floor(i / layout.members);
      return {
        index: i,
        url,
        localAddress,
        subscribeChannel: channel,
        publishChannel: channel,
        lane: i % layout.members,
      };
    }
    default:
      return { index: i, url, localAddress, subscribeChannel: i % layout.channels, publishChannel: -1, lane: -1 };
  }
}

/** Publisher `j`'s spec (fanout, cross-node). */
export function publisherSpec(layout: Layout, j: number): ConnectionSpec {
  const url = layout.publisherUrls[j % layout.publisherUrls.length] as string;
  return {
    index: j,
    url,
    localAddress: sourceAddress(layout, j),
    subscribeChannel: -1,
    publishChannel: j % layout.channels,
    lane: Math.floor(j / layout.channels),
  };
}

/**
 * How long after the run's common start worker `w` sends its first publication, in µs. At a
 * fixed total `rate`, publisher j of P is due at start + (m·P + j) / rate (m = 0, 1, …): each
 * worker interleaves its own publishers evenly, and this offset interleaves the workers, so
 * publishers in different processes (publisher j runs in worker j mod processes) take turns
 * instead of all publishing at the same instant. Zero with rate "max" and for a worker
 * without publishers.
 */
export function publishOffsetUs(layout: Layout, rate: number | "max", w: number): number {
  if (rate === "max" || w >= publisherCount(layout)) return 0;
  return (w * 1e6) / rate;
}

/** Global indices of the connections worker `w` runs, in ramp order. */
export function* workerConnections(layout: Layout, w: number): Generator<number> {
  for (let i = w; i < layout.connections; i += layout.processes) yield i;
}

/** Global indices of the publishers worker `w` runs. */
export function* workerPublishers(layout: Layout, w: number): Generator<number> {
  for (let j = w; j < layout.publishers; j += layout.processes) yield j;
}

/** How many connections (publishers included, API lanes not) worker `w` opens. */
export function workerConnectionCount(layout: Layout, w: number): number {
  const count = (total: number): number => (w < total ? Math.floor((total - 1 - w) / layout.processes) + 1 : 0);
  return count(layout.connections) + (layout.apiPublish ? 0 : count(layout.publishers));
}
