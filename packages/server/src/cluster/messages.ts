import type { Registry } from "prom-client";
import type { NodeInfo } from "../registry/registry.js";

/** A process's metrics as `registry.getMetricsAsJSON()` gives them: what AggregatorRegistry.aggregate() takes. */
export type MetricsSnapshot = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

/** Worker → primary, over the cluster's IPC channel (besides relay messages). */
export type WorkerMessage =
  /** The worker's node has started; `url` is where it is reached, `node` its registry id. */
  | { hubcast: "ready"; url: string; node: string }
  /** The worker's node stats, sent every second. */
  | { hubcast: "stats"; info: NodeInfo }
  /** Least-connections bookkeeping: sockets received from the primary so far, and those still open. */
  | { hubcast: "connections"; accepted: number; open: number }
  /** The worker took a `/metrics` scrape and asks for the whole cluster's metrics (answered by `scraped` with the same `id`). */
  | { hubcast: "scrape"; id: number }
  /** The worker's own metrics, answering `collect` `id`; `null`: collecting failed (the worker logged why). */
  | { hubcast: "metrics"; id: number; metrics: MetricsSnapshot | null };

/** Primary → worker (a `socket` message carries the socket as its handle). */
export type PrimaryMessage =
  | { hubcast: "drain" }
  | { hubcast: "socket" }
  /** Send your metrics (a `metrics` message with the same `id`). */
  | { hubcast: "collect"; id: number }
  /** The cluster's metrics in the text format, answering `scrape` `id`; `null`: aggregating failed (the primary logged why). */
  | { hubcast: "scraped"; id: number; text: string | null };

const WORKER_TYPES: ReadonlySet<unknown> = new Set(["ready", "stats", "connections", "scrape", "metrics"]);
const PRIMARY_TYPES: ReadonlySet<unknown> = new Set(["drain", "socket", "collect", "scraped"]);

/** True for a message a worker sends its primary (relay messages aside). */
export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return typeof value === "object" && value !== null && "hubcast" in value && WORKER_TYPES.has(value.hubcast);
}

/** True for a message a primary sends its workers (relay messages aside). */
export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return typeof value === "object" && value !== null && "hubcast" in value && PRIMARY_TYPES.has(value.hubcast);
}

/** The environment variables through which the primary tells a worker who it is. Read by the CLI. */
export const WORKER_ENV = {
  /** The worker's slot, 1 to N: stable across restarts, it names the worker in logs. */
  slot: "HUBCAST_WORKER_SLOT",
  /** Where the primary accepts connections (least-connections balancing); empty when workers listen themselves. */
  clusterUrl: "HUBCAST_CLUSTER_URL",
} as const;
