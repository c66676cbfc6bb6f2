/**
 * Everything a node runs for its Pusher apps, in one place: the `/app/{key}` endpoint, the
 * HTTP API backend, and the app-scoped side of cluster-wide user disconnects.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Metrics } from "../metrics.js";
import { createPusherApiHandler } from "./http-api.js";
import type { Duplex } from "node:stream";
import { CloseCode } from "@hubcast/protocol";
import type { NodeContext } from "../context.js";
import type { Session } from "../session.js";
import type { Admission } from "../transport/admission.js";
import type { UpgradeRequest } from "../transport/upgrade-request.js";
import type { WebSocketTransport } from "../transport/websocket.js";
import type { PusherApiBackend } from "./api-backend.js";
import type { ClusterView } from "./backend.js";
import { PusherBackend } from "./backend.js";
import { MemberLeaves } from "./member-leaves.js";
import type { PusherApps } from "./endpoint.js";
import { pusherName } from "./channels.js";
import { PUSHER_PATH_PREFIX, PusherEndpoint } from "./endpoint.js";
import type { MembershipEvents } from "./membership.js";
import { NO_MEMBERSHIP_EVENTS } from "./membership.js";
import { PresenceReconciler } from "./presence-reconciler.js";
import { PusherMetrics } from "./metrics.js";
import type { Webhooks } from "./webhook-events.js";
import { startWebhooks } from "./webhook-events.js";
import type { ClientInfo } from "@hubcast/protocol";

/** What the service needs of its node. */
export interface PusherServiceDeps {
  ctx: NodeContext;
  websocket: WebSocketTransport;
  sessions: Set<Session>;
  admission: Admission;
  cluster: ClusterView;
  /** This node's id, unique in the cluster (webhook occupancy entries carry it). */
  nodeId: string;
}

export class PusherService {
  private readonly ctx: NodeContext;
  private readonly endpoint: PusherEndpoint;
  private reconciler: PresenceReconciler | undefined;
  private readonly events: MembershipEvents;
  private readonly webhooks: Webhooks | undefined;
  readonly metrics: PusherMetrics;
  /** The operations behind the Pusher HTTP API. */
  readonly backend: PusherApiBackend;

  constructor(
    readonly apps: PusherApps,
    deps: PusherServiceDeps,
  ) {
    const appList = [...apps.all()].map((state) => state.app);
    this.metrics = new PusherMetrics(
      deps.ctx.metrics.registry,
      appList.map((app) => app.id),
      () => this.connectionCounts(),
    );
    this.webhooks = startWebhooks(appList, {
      nodeId: deps.nodeId,
      engine: deps.ctx.engine,
      presenceTtlMs: deps.ctx.options.presenceTtlMs,
      logger: deps.ctx.logger,
      metrics: this.metrics,
    });
    const events = this.webhooks?.events ?? NO_MEMBERSHIP_EVENTS;
    this.events = events;
    this.endpoint = new PusherEndpoint(
      apps,
      {
        node: deps.ctx,
        events,
        metrics: this.metrics,
        leaves: new MemberLeaves(),
        membersShown: (hub, members) => this.reconciler?.startFrom(hub, members),
      },
      deps,
    );
    this.backend = new PusherBackend(deps.ctx, apps, deps.cluster, this.metrics);
    this.ctx = deps.ctx;
  }

  /** Starts the node-wide work: the presence reconciler, on engines whose presence expires. */
  start(): void {
    const { engine, hub, logger } = this.ctx;
    // Only there can a member go without a push: its node died and its entries expired.
    if (engine.presenceRefreshMs === undefined) return;
    const apps = this.apps;
    this.reconciler = new PresenceReconciler({
      channels: () => [...hub.channelStats().keys()].filter((channel) => apps.isPresenceChannel(channel)),
      presence: engine.presence,
      deliver: (type, channel, info) => hub.deliverJoinLeave(type, channel, info),
      removed: (channel, user) => {
        const state = apps.ofChannel(channel);
        if (state !== undefined) this.events.memberRemoved(state.app, pusherName(channel), channel, user);
      },
      intervalMs: engine.presenceRefreshMs,
      logger,
    });
  }

  /**
   * A member's leave heard from the broker: `deliver` runs at once, or, on a Pusher presence
   * channel this node has subscribers of, once presence confirms the user is gone. A leave is
   * decided where the user's last connection was, and can arrive after the same user's join on
   * another node (a reload whose old page's leave was slow): delivered then, it would take a
   * present user out of every member list until the reconciler put them back. One presence read
   * per such leave; a read that fails delivers the leave.
   */
  leaveHeard(channel: string, info: ClientInfo, deliver: () => void): void {
    const { hub, engine, logger } = this.ctx;
    if (!this.apps.isPresenceChannel(channel) || hub.liveCount(channel) === 0) {
      deliver();
      return;
    }
    engine.presence.get(channel).then(
      (entries) => {
        if (Object.values(entries).some((entry) => entry.user === info.user)) {
          logger.debug({ channel, user: info.user }, "member_removed not delivered: the user is present again");
          return;
        }
        deliver();
      },
      (err: unknown) => {
        logger.warn({ err, channel }, "presence read for a member's leave failed; delivering the leave");
        deliver();
      },
    );
  }

  /** A join or leave push from the broker reached this node (after the Hub delivered it). */
  observe(type: "join" | "leave", channel: string, info: ClientInfo): void {
    this.reconciler?.observe(type, channel, info);
  }

  /**
   * Stops the node-wide work: the presence reconciler, then the webhooks (pending decisions are
   * made at once and the last events sent, within the sender's close deadline). Call while the
   * engine still runs: the webhook decisions read it.
   */
  async close(): Promise<void> {
    this.reconciler?.stop();
    await this.webhooks?.close();
  }

  /** The HTTP API handler for paths under /apps/. */
  apiHandler(
    faults: Pick<Metrics, "unexpectedError">,
  ): (req: IncomingMessage, res: ServerResponse, path: string) => void {
    return createPusherApiHandler({
      apps: [...this.apps.all()].map((state) => state.app),
      backend: this.backend,
      logger: this.ctx.logger,
      faults,
    });
  }

  /** Whether an upgrade request is for the Pusher endpoint. */
  static isPusherPath(path: string): boolean {
    return path.startsWith(PUSHER_PATH_PREFIX);
  }

  handleUpgrade(req: UpgradeRequest, socket: Duplex, head: Buffer): void {
    this.endpoint.handleUpgrade(req, socket, head);
  }

  /** Closes this node's connections of app `appId` signed in as `user` (4009, final); returns how many. */
  terminate(appId: string, user: string): number {
    const state = this.apps.app({ id: appId });
    if (state === undefined) return 0;
    let count = 0;
    for (const connection of [...state.connections]) {
      if (connection.user !== user) continue;
      connection.session.close(CloseCode.forceDisconnect, "the app ended this user's connections");
      count += 1;
    }
    return count;
  }

  /** Connections per app on this node. */
  connectionCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { app, connections } of this.apps.all()) counts.set(app.id, connections.size);
    return counts;
  }
}
