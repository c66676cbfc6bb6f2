import type { Logger } from "pino";
import { AggregatorRegistry, Gauge, Registry } from "prom-client";
import { processMetrics } from "../metrics.js";
import type { MetricsSnapshot } from "./messages.js";

/** How long the primary waits for each worker's metrics before leaving it out of a scrape, in ms. */
export const COLLECT_TIMEOUT_MS = 2_000;

/** A worker the primary can ask for its metrics. */
export interface MetricsWorker {
  /** The worker's slot, 1 to N: its answer is {@link MetricsCollector.report}ed under it. */
  readonly index: number;
  /** Sends the worker a `collect` request with `id`. */
  ask(id: number): void;
}

/** How a {@link MetricsCollector} runs. */
export interface MetricsCollectorOptions {
  /** Workers the cluster runs, reported as `hubcast_cluster_workers`. */
  workers: number;
  logger: Logger;
  /** Wait per scrape for the workers' answers, in ms. @default COLLECT_TIMEOUT_MS */
  timeoutMs?: number;
  /** The primary's own metrics, added to every scrape. @default this process's metrics (processMetrics()) */
  own?: () => Promise<MetricsSnapshot>;
}

/** One scrape in progress: the workers still to answer, and the snapshots received. */
interface Collection {
  readonly waiting: Set<number>;
  readonly snapshots: MetricsSnapshot[];
  readonly timer: NodeJS.Timeout;
  readonly finish: () => void;
}

/**
 * The primary's half of cluster metrics: for each scrape it asks every live worker for its
 * metrics, waits up to `timeoutMs`, and aggregates what arrived with prom-client's
 * AggregatorRegistry, each metric by its `aggregator` (sum unless the metric says min, max,
 * average, first or omit). A worker that does not answer in time is left out: the scrape
 * still answers, `hubcast_cluster_workers_reporting` falls below `hubcast_cluster_workers`,
 * and a warning names the worker. Concurrent scrapes are independent.
 */
export class MetricsCollector {
  private nextId = 1;
  private readonly collections = new Map<number, Collection>();
  private readonly timeoutMs: number;
  private readonly own: () => Promise<MetricsSnapshot>;

  constructor(private readonly options: MetricsCollectorOptions) {
    this.timeoutMs = options.timeoutMs ?? COLLECT_TIMEOUT_MS;
    this.own = options.own ?? (() => processMetrics().getMetricsAsJSON());
  }

  /** The whole cluster's metrics in the Prometheus text format, from `workers` and the primary itself. */
  async collect(workers: readonly MetricsWorker[]): Promise<string> {
    const collection = await this.gather(workers);
    const late = [...collection.waiting];
    if (late.length > 0) {
      this.options.logger.warn(
        { workers: late, timeoutMs: this.timeoutMs },
        "workers left out of the metrics scrape: no answer in time",
      );
    }
    const cluster = await clusterGauges(this.options.workers, collection.snapshots.length);
    const registry = AggregatorRegistry.aggregate([...collection.snapshots, await this.own(), cluster]);
    return registry.metrics();
  }

  /** Worker `index` answered collect request `id`; `null`: it could not collect (and logged why). */
  report(index: number, id: number, snapshot: MetricsSnapshot | null): void {
    const collection = this.collections.get(id);
    if (collection === undefined || !collection.waiting.delete(index)) return; // late, or not asked
    if (snapshot !== null) collection.snapshots.push(snapshot);
    if (collection.waiting.size === 0) collection.finish();
  }

  /** Worker `index` exited, or a request could not reach it: scrapes in progress stop waiting for it. */
  unreachable(index: number): void {
    for (const collection of this.collections.values()) {
      if (collection.waiting.delete(index) && collection.waiting.size === 0) collection.finish();
    }
  }

  /** Asks every worker and resolves when all have answered, or at the timeout with the rest still waiting. */
  private gather(workers: readonly MetricsWorker[]): Promise<Collection> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const collection: Collection = {
        waiting: new Set(workers.map((w) => w.index)),
        snapshots: [],
        // Unref'd: a scrape in flight must not hold a stopping primary open.
        timer: setTimeout(() => collection.finish(), this.timeoutMs).unref(),
        finish: () => {
          clearTimeout(collection.timer);
          this.collections.delete(id);
          resolve(collection);
        },
      };
      this.collections.set(id, collection);
      for (const worker of workers) worker.ask(id);
      if (collection.waiting.size === 0) collection.finish();
    });
  }
}

/** The primary's view of the cluster for one scrape: workers it runs, and workers whose metrics the scrape holds. */
function clusterGauges(workers: number, reporting: number): Promise<MetricsSnapshot> {
  const registry = new Registry();
  const registers = [registry];
  new Gauge({ name: "hubcast_cluster_workers", help: "Workers the cluster primary runs (--workers).", registers }).set(
    workers,
  );
  new Gauge({
    name: "hubcast_cluster_workers_reporting",
    help: "Workers whose metrics this scrape holds; fewer than hubcast_cluster_workers while a worker restarts or did not answer in time.",
    registers,
  }).set(reporting);
  return registry.getMetricsAsJSON();
}
