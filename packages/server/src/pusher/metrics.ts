/**
 * Per-app metrics of a node serving Pusher apps, in the node's registry: connections now,
 * events published (by clients and the HTTP API), and webhook events delivered or dropped.
 * Label values are app ids, a set the configuration fixes.
 */
import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";

export const PusherEventSource = { client: "client", api: "api" } as const;
export type PusherEventSource = (typeof PusherEventSource)[keyof typeof PusherEventSource];

export class PusherMetrics {
  private readonly events: Counter<"app" | "source">;
  private readonly webhooks: Counter<"app" | "result">;

  constructor(registry: Registry, appIds: readonly string[], connections: () => ReadonlyMap<string, number>) {
    const registers = [registry];
    new Gauge({
      name: "hubcast_pusher_connections",
      help: "Pusher-protocol connections open on this node now, by app id.",
      labelNames: ["app"],
      registers,
      aggregator: "sum",
      collect() {
        const counts = connections();
        for (const app of appIds) this.set({ app }, counts.get(app) ?? 0);
      },
    });
    this.events = new Counter({
      name: "hubcast_pusher_events_total",
      help: "Pusher events published, by app id and source: client (client- events) or api (the Pusher HTTP API, one per channel).",
      labelNames: ["app", "source"],
      registers,
    });
    this.webhooks = new Counter({
      name: "hubcast_pusher_webhook_events_total",
      help: "Webhook events by app id and result: delivered (a target answered 2xx), dropped (given up after the retries, over the queue cap, or at shutdown).",
      labelNames: ["app", "result"],
      registers,
    });
    for (const app of appIds) {
      for (const source of Object.values(PusherEventSource)) this.events.inc({ app, source }, 0);
      for (const result of ["delivered", "dropped"]) this.webhooks.inc({ app, result }, 0);
    }
  }

  published(app: string, source: PusherEventSource, count = 1): void {
    this.events.inc({ app, source }, count);
  }

  webhookEvents(app: string, result: "delivered" | "dropped", count: number): void {
    this.webhooks.inc({ app, result }, count);
  }
}
