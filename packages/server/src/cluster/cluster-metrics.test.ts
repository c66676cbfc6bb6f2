import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseSamples, sample } from "../../../../test/support/scrape.js";
import { Metrics, processMetrics } from "../metrics.js";
import { ClusterScrape } from "./cluster-scrape.js";
import { RelayCallError, RelayClosedError, RelayTimeoutError } from "./errors.js";
import type { MetricsSnapshot, WorkerMessage } from "./messages.js";
import { COLLECT_TIMEOUT_MS, MetricsCollector } from "./metrics-collector.js";
import type { MetricsWorker } from "./metrics-collector.js";

afterEach(() => {
  vi.useRealTimers();
});

/** A collector whose log lines land in `lines`, adding no metrics of its own unless `own` says so. */
function collector(own: () => Promise<MetricsSnapshot> = () => Promise.resolve([])): {
  collector: MetricsCollector;
  lines: Record<string, unknown>[];
} {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { collector: new MetricsCollector({ workers: 2, logger: pino({ level: "warn" }, sink), own }), lines };
}

/** A worker node's metrics with `connections` open, `accepted` accepted, and one client publish timed. */
async function workerSnapshot(ready: boolean, connections: number, accepted: number): Promise<MetricsSnapshot> {
  const metrics = new Metrics({
    ready: () => ready,
    connections: () => connections,
    connectionsByTransport: () => new Map([["websocket", connections]]),
    subscriptions: () => 2 * connections,
    channels: () => 1,
    peers: () => 0,
  });
  for (let i = 0; i < accepted; i++) metrics.accepted(i % 2 === 0 ? "websocket" : "sse");
  await metrics.timePublish("client", Promise.resolve());
  return metrics.registry.getMetricsAsJSON();
}

/** A worker that answers `collect` with `snapshot` on the next microtask (as if over IPC), or never when `snapshot` is undefined. */
function worker(
  index: number,
  collector: MetricsCollector,
  snapshot: MetricsSnapshot | null | undefined,
): MetricsWorker & { asked: number[] } {
  const asked: number[] = [];
  return {
    index,
    asked,
    ask(id) {
      asked.push(id);
      if (snapshot !== undefined) queueMicrotask(() => collector.report(index, id, snapshot));
    },
  };
}

describe("MetricsCollector", () => {
  it("sums the workers' counters, gauges and histograms, takes the minimum of ready, and counts the workers reporting", async () => {
    const { collector: c } = collector();
    const a = worker(1, c, await workerSnapshot(true, 3, 5));
    const b = worker(2, c, await workerSnapshot(false, 2, 4));
    const samples = parseSamples(await c.collect([a, b]));
    expect(sample(samples, "hubcast_connections")).toBe(5);
    expect(sample(samples, "hubcast_subscriptions")).toBe(10);
    expect(sample(samples, 'hubcast_connections_total{transport="websocket"}')).toBe(5);
    expect(sample(samples, 'hubcast_connections_total{transport="sse"}')).toBe(4);
    expect(sample(samples, 'hubcast_transport_connections{transport="websocket"}')).toBe(5);
    expect(sample(samples, 'hubcast_publish_duration_seconds_count{source="client"}')).toBe(2);
    expect(sample(samples, 'hubcast_publish_duration_seconds_bucket{le="+Inf",source="client"}')).toBe(2);
    expect(sample(samples, "hubcast_ready")).toBe(0); // one worker is not ready
    expect(sample(samples, "hubcast_cluster_workers")).toBe(2);
    expect(sample(samples, "hubcast_cluster_workers_reporting")).toBe(2);
  });

  it("aggregates process metrics by prom-client's settings, and the event loop lag by the worst process", async () => {
    const base = await processMetrics().getMetricsAsJSON();
    const withLag = (lagSeconds: number): MetricsSnapshot =>
      base.map((m) =>
        m.name === "hubcast_event_loop_lag_seconds" ? { ...m, values: [{ value: lagSeconds, labels: {} }] } : m,
      );
    const { collector: c } = collector(() => Promise.resolve(withLag(0.1)));
    const samples = parseSamples(await c.collect([worker(1, c, withLag(0.3)), worker(2, c, withLag(0.2))]));
    expect(sample(samples, "hubcast_event_loop_lag_seconds")).toBe(0.3);
    expect(samples.has("hubcast_process_start_time_seconds")).toBe(false); // prom-client omits it: no one start time
    expect(samples.has("hubcast_process_resident_memory_bytes")).toBe(true);
    const versions = [...samples.keys()].filter((k) => k.startsWith("hubcast_nodejs_version_info"));
    expect(versions).toHaveLength(1); // "first", not summed into 3
    expect(samples.get(versions[0] ?? "")).toBe(1);
  });

  it("leaves out a worker that does not answer in time, says which, and answers with the rest", async () => {
    vi.useFakeTimers();
    const { collector: c, lines } = collector();
    const answering = worker(1, c, await workerSnapshot(true, 3, 3));
    const silent = worker(2, c, undefined);
    const scrape = c.collect([answering, silent]);
    await vi.advanceTimersByTimeAsync(COLLECT_TIMEOUT_MS);
    const samples = parseSamples(await scrape);
    expect(sample(samples, "hubcast_connections")).toBe(3);
    expect(sample(samples, "hubcast_cluster_workers_reporting")).toBe(1);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        msg: "workers left out of the metrics scrape: no answer in time",
        workers: [2],
        timeoutMs: COLLECT_TIMEOUT_MS,
      }),
    ]);
    // Its late answer is ignored.
    c.report(2, silent.asked[0] ?? 0, await workerSnapshot(true, 100, 100));
  });

  it("stops waiting at once for a worker that exits, and leaves out one that could not collect", async () => {
    const { collector: c, lines } = collector();
    const failing = worker(1, c, null);
    const dying = worker(2, c, undefined);
    const scrape = c.collect([failing, dying]);
    c.unreachable(2);
    const samples = parseSamples(await scrape); // no timers to run: it settled without the timeout
    expect(sample(samples, "hubcast_cluster_workers_reporting")).toBe(0);
    expect(samples.has("hubcast_connections")).toBe(false);
    expect(lines).toEqual([]); // the exit and the failure are logged where they happen
  });

  it("answers with no workers at all", async () => {
    const { collector: c } = collector();
    const samples = parseSamples(await c.collect([]));
    expect(sample(samples, "hubcast_cluster_workers_reporting")).toBe(0);
  });

  it("keeps concurrent scrapes apart", async () => {
    const { collector: c } = collector();
    const snapshot = await workerSnapshot(true, 1, 1);
    const [x, y] = await Promise.all([
      c.collect([worker(1, c, snapshot)]),
      c.collect([worker(1, c, snapshot), worker(2, c, snapshot)]),
    ]);
    expect(sample(parseSamples(x), "hubcast_connections")).toBe(1);
    expect(sample(parseSamples(y), "hubcast_connections")).toBe(2);
  });
});

describe("ClusterScrape", () => {
  /** A scrape source whose requests land in `sent`; `connected: false` makes every send fail. */
  function source(connected = true, timeoutMs = 3_000): { scrape: ClusterScrape; sent: WorkerMessage[] } {
    const sent: WorkerMessage[] = [];
    const scrape = new ClusterScrape((message) => {
      if (connected) sent.push(message);
      return connected;
    }, timeoutMs);
    return { scrape, sent };
  }

  it("asks the primary and serves its answer in the Prometheus text format", async () => {
    const { scrape, sent } = source();
    const scraped = scrape.scrape();
    expect(sent).toEqual([{ hubcast: "scrape", id: 1 }]);
    scrape.answered(1, "hubcast_connections 7\n");
    await expect(scraped).resolves.toEqual({
      contentType: expect.stringContaining("text/plain; version=0.0.4") as string,
      text: "hubcast_connections 7\n",
    });
  });

  it("fails when the primary is gone, cannot aggregate, or does not answer in time", async () => {
    await expect(source(false).scrape.scrape()).rejects.toBeInstanceOf(RelayClosedError);
    const failing = source();
    const refused = failing.scrape.scrape();
    failing.scrape.answered(1, null);
    await expect(refused).rejects.toBeInstanceOf(RelayCallError);
    vi.useFakeTimers();
    const { scrape } = source(true, 3_000);
    const late = scrape.scrape();
    const settled = expect(late).rejects.toBeInstanceOf(RelayTimeoutError);
    await vi.advanceTimersByTimeAsync(3_000);
    await settled;
    scrape.answered(1, "too late\n"); // ignored
  });
});

describe("docs/cluster-mode.md", () => {
  it("documents the cluster gauges a scrape adds", async () => {
    const doc = readFileSync(new URL("../../../../docs/cluster-mode.md", import.meta.url), "utf8");
    const { collector: c } = collector();
    const names = [...parseSamples(await c.collect([])).keys()];
    expect(names.sort()).toEqual(["hubcast_cluster_workers", "hubcast_cluster_workers_reporting"]);
    for (const name of names) expect(doc, name).toContain(`| \`${name}\` | gauge |`);
  });
});
