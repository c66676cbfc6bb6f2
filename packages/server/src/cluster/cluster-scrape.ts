import type { Logger } from "pino";
import { Registry } from "prom-client";
import type { Metrics, ScrapeSource, Scraped } from "../metrics.js";
import { RelayCallError, RelayClosedError, RelayTimeoutError } from "./errors.js";
import type { WorkerMessage } from "./messages.js";
import { COLLECT_TIMEOUT_MS } from "./metrics-collector.js";

/** How long a worker waits for the primary's aggregate, in ms: the primary's own wait for the workers, plus a margin. */
export const SCRAPE_TIMEOUT_MS = COLLECT_TIMEOUT_MS + 1_000;

/** Sends a message to the primary; false when the IPC channel is gone. */
export type SendToPrimary = (message: WorkerMessage) => boolean;

interface Waiting {
  resolve: (scraped: Scraped) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A cluster worker's `/metrics`: whichever worker takes the scrape asks the primary, which
 * collects every worker's metrics (this one's too) and answers with the aggregate. Rejects
 * with RelayTimeoutError when the primary does not answer within `timeoutMs`,
 * RelayClosedError when it is gone, RelayCallError when aggregating failed there.
 */
export class ClusterScrape implements ScrapeSource {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  constructor(
    private readonly send: SendToPrimary,
    private readonly timeoutMs = SCRAPE_TIMEOUT_MS,
  ) {}

  scrape(): Promise<Scraped> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new RelayTimeoutError(`the primary did not answer a metrics scrape within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      if (!this.send({ hubcast: "scrape", id }))
        this.settle(id, new RelayClosedError("no IPC channel to the primary: cannot scrape the cluster's metrics"));
    });
  }

  /** The primary's answer to scrape `id`: the cluster's metrics, or `null` when aggregating failed there. */
  answered(id: number, text: string | null): void {
    this.settle(id, text ?? new RelayCallError("the primary could not aggregate the cluster's metrics; see its log"));
  }

  private settle(id: number, outcome: string | Error): void {
    const waiting = this.waiting.get(id);
    if (waiting === undefined) return; // answered after the timeout
    this.waiting.delete(id);
    clearTimeout(waiting.timer);
    if (outcome instanceof Error) waiting.reject(outcome);
    else waiting.resolve({ contentType: Registry.PROMETHEUS_CONTENT_TYPE, text: outcome });
  }
}

/** Answers the primary's collect request `id` with this worker's metrics (its node's and its process's). */
export function reportMetrics(metrics: Metrics, id: number, send: SendToPrimary, logger: Logger): void {
  metrics
    .scrapeRegistry()
    .getMetricsAsJSON()
    .then(
      (snapshot) => send({ hubcast: "metrics", id, metrics: snapshot }),
      (err: unknown) => {
        logger.error({ err }, "collecting metrics for the cluster scrape failed");
        send({ hubcast: "metrics", id, metrics: null });
      },
    );
}
