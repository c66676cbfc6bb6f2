/**
 * The node's side of the Pusher HTTP API: publishes events as Hubcast publications (the
 * envelope of codec.ts), and answers channel questions cluster-wide from the control plane's
 * survey (subscriptions per node) and the presence store (members).
 */
import { encodeJsonData, parseJsonData } from "@hubcast/protocol";
import type { NodeContext } from "../context.js";
import { PublishFailure, PublishFailureKind } from "../publish-failure.js";
import type { ChannelAttribute, ChannelInfo, PusherApiBackend, PusherEventInput } from "./api-backend.js";
import { PusherApiError } from "./api-backend.js";
import type { ResolvedPusherApp } from "./apps.js";
import { channelKind, hubcastChannel } from "./channels.js";
import type { Envelope } from "./codec.js";
import type { PusherApps } from "./endpoint.js";
import type { PusherMetrics } from "./metrics.js";

/** What the backend needs of the cluster: subscriptions per channel on every node, and user disconnects. */
export interface ClusterView {
  /** Hubcast channel → live subscriptions, summed over every node that answered. */
  subscriptions(): Promise<Map<string, number>>;
  /** Closes the connections of `app` signed in as `user`, on every node. */
  terminate(appId: string, user: string): Promise<void>;
}

export class PusherBackend implements PusherApiBackend {
  constructor(
    private readonly ctx: NodeContext,
    private readonly apps: PusherApps,
    private readonly cluster: ClusterView,
    private readonly metrics: PusherMetrics,
  ) {}

  async trigger(app: ResolvedPusherApp, input: PusherEventInput): Promise<Record<string, ChannelInfo> | undefined> {
    const namespace = this.namespace(app);
    const envelope: Envelope = { event: input.name, data: this.storedData(input.data) };
    if (input.socketId !== undefined) envelope.socket_id = input.socketId;
    const data = encodeJsonData(envelope);
    await Promise.all(
      input.channels.map(async (channel) => {
        const hub = hubcastChannel(namespace, channel);
        const lookup = this.ctx.rules.lookup(hub);
        if (!lookup.ok) throw new PusherApiError(400, `Invalid channel name: ${lookup.reason}`);
        await this.ctx.publisher
          .publish("api", { channel: hub, data }, lookup.options.history)
          .catch((err: unknown) => {
            const unknownOutcome = err instanceof PublishFailure && err.kind === PublishFailureKind.outcomeUnknown;
            throw new PusherApiError(
              503,
              unknownOutcome
                ? "the event may or may not have been published; retry"
                : "the engine is unavailable; retry",
            );
          });
        this.metrics.published(app.id, "api");
      }),
    );
    const info = input.info ?? [];
    if (info.length === 0) return undefined;
    const answers: Record<string, ChannelInfo> = {};
    for (const channel of input.channels) answers[channel] = await this.channel(app, channel, info);
    return answers;
  }

  async channels(
    app: ResolvedPusherApp,
    query: { prefix: string; userCount: boolean },
  ): Promise<Record<string, { user_count?: number }>> {
    const head = `${this.namespace(app)}:`;
    const channels: Record<string, { user_count?: number }> = {};
    for (const [hub, count] of await this.cluster.subscriptions()) {
      if (count === 0 || !hub.startsWith(head)) continue;
      const name = hub.slice(head.length);
      if (!name.startsWith(query.prefix)) continue;
      channels[name] = query.userCount ? { user_count: await this.userCount(hub) } : {};
    }
    return channels;
  }

  async channel(app: ResolvedPusherApp, name: string, info: readonly ChannelAttribute[]): Promise<ChannelInfo> {
    const hub = hubcastChannel(this.namespace(app), name);
    const subscriptions = (await this.cluster.subscriptions()).get(hub) ?? 0;
    const answer: ChannelInfo = { occupied: subscriptions > 0 };
    if (info.includes("subscription_count")) answer.subscription_count = subscriptions;
    if (info.includes("user_count") && channelKind(name).presence) answer.user_count = await this.userCount(hub);
    return answer;
  }

  async users(app: ResolvedPusherApp, channel: string): Promise<{ id: string }[]> {
    const entries = await this.ctx.engine.presence.get(hubcastChannel(this.namespace(app), channel));
    return [...new Set(Object.values(entries).map((entry) => entry.user))].map((id) => ({ id }));
  }

  terminateUserConnections(app: ResolvedPusherApp, userId: string): Promise<void> {
    return this.cluster.terminate(app.id, userId);
  }

  private async userCount(hub: string): Promise<number> {
    return (await this.ctx.engine.presence.stats(hub)).numUsers;
  }

  private namespace(app: ResolvedPusherApp): string {
    const state = this.apps.app({ id: app.id });
    if (state === undefined) throw new PusherApiError(404, "Unknown app");
    return state.namespace;
  }

  /**
   * Data as stored: JSON text is kept as its value, so native clients of a shared namespace
   * read objects; anything else (plain text, or JSON nested past maxDataDepth) stays a string.
   * Pusher clients receive JSON text either way.
   */
  private storedData(data: string): unknown {
    const parsed = parseJsonData(Buffer.from(data), this.ctx.options.maxDataDepth);
    return parsed.ok && typeof parsed.value === "object" && parsed.value !== null ? parsed.value : data;
  }
}
