/**
 * The webhooks of a node's Pusher apps: the cluster-wide decisions of the {@link WebhookTracker}
 * sent by one {@link WebhookSender}, fed by the protocol's {@link MembershipEvents}.
 */
import type { Logger } from "pino";
import type { Engine } from "../engine/engine.js";
import type { ResolvedPusherApp } from "./apps.js";
import type { MembershipEvents } from "./membership.js";
import type { PusherMetrics } from "./metrics.js";
import { WebhookTracker } from "./webhook-tracker.js";
import { WebhookSender } from "./webhooks.js";

/** Pusher's delay before channel_vacated and member_removed, unless the presence TTL is shorter. */
const VACATE_DELAY_MS = 3_000;
/** How often occupancy entries are re-added on an engine whose presence never expires. */
const NEVER_EXPIRING_REFRESH_MS = 60_000;

/** The webhook pipeline: the events to report to, and how to stop it (decisions first, then the last sends). */
export interface Webhooks {
  readonly events: MembershipEvents;
  close(): Promise<void>;
}

/** Builds the pipeline, or returns undefined when no app has a webhook target (nothing is tracked then). */
export function startWebhooks(
  apps: readonly ResolvedPusherApp[],
  deps: { nodeId: string; engine: Engine; presenceTtlMs: number; logger: Logger; metrics: PusherMetrics },
): Webhooks | undefined {
  if (!apps.some((app) => app.webhooks.length > 0)) return undefined;
  const { engine, logger, metrics } = deps;
  const sender = new WebhookSender({
    logger,
    onDelivered: ({ app, events }) => metrics.webhookEvents(app.id, "delivered", events),
    onDropped: ({ app, events }) => metrics.webhookEvents(app.id, "dropped", events),
  });
  const tracker = new WebhookTracker({
    nodeId: deps.nodeId,
    presence: engine.presence,
    refreshMs: engine.presenceRefreshMs ?? NEVER_EXPIRING_REFRESH_MS,
    // Below the TTL, so a node's own entries still stand when its delayed decisions read them.
    delayMs: Math.min(VACATE_DELAY_MS, Math.floor(deps.presenceTtlMs / 2)),
    send: (app, event) => sender.queue(app, event),
    logger,
  });
  const events: MembershipEvents = {
    occupiedLocally: (app, channel, hub) => tracker.occupiedLocally(app, channel, hub),
    vacatedLocally: (app, channel, hub) => tracker.vacatedLocally(app, channel, hub),
    memberAdded: (app, channel, hub, user) => tracker.memberAdded(app, channel, hub, user),
    memberLeaving: (app, channel, hub, user) => tracker.memberLeaving(app, channel, hub, user),
    memberStayed: (app, channel, hub, user) => tracker.memberStayed(app, channel, hub, user),
    memberRemoved: (app, channel, hub, user) => tracker.memberRemoved(app, channel, hub, user),
    clientEvent: (app, { channel, event, data, socketId, userId }) =>
      tracker.clientEvent(app, {
        channel,
        event,
        data,
        socket_id: socketId,
        ...(userId === undefined ? {} : { user_id: userId }),
      }),
  };
  return {
    events,
    async close() {
      await tracker.close();
      await sender.close();
    },
  };
}
