import cluster from "node:cluster";
import type { Worker } from "node:cluster";
import type { Socket } from "node:net";
import { availableParallelism } from "node:os";
import type { Logger } from "pino";
import { Counter, Registry } from "prom-client";
import { processMetrics } from "../metrics.js";
import { MemoryEngine, memoryEngineOptions } from "../engine/memory.js";
import type { ResolvedNodeOptions } from "../options.js";
import type { NodeInfo } from "../registry/registry.js";
import { LeastConnectionsBalancer } from "./least-connections.js";
import type { BalancerTarget } from "./least-connections.js";
import { WORKER_ENV, isWorkerMessage } from "./messages.js";
import type { PrimaryMessage, WorkerMessage } from "./messages.js";
import { MetricsCollector } from "./metrics-collector.js";
import type { MetricsWorker } from "./metrics-collector.js";
import { workerLink } from "./relay-link.js";
import { EngineRelay } from "./relay.js";
import { CrashHistory } from "./restart-policy.js";
import type { RestartPolicyOptions } from "./restart-policy.js";

/** How many workers the `workers` option asks for: "auto" is one per core (`os.availableParallelism()`). */
export function workerCount(workers: string): number {
  return workers === "auto" ? availableParallelism() : Number(workers);
}

/** What a cluster primary runs with. */
export interface PrimarySettings {
  /** The options every worker runs with; the primary uses port, host, engine, balancing, drainWindowMs, nodeTtlMs and workerStatsIntervalMs. */
  options: ResolvedNodeOptions;
  /** Workers to keep running. */
  count: number;
  logger: Logger;
  /** Tells the operator why the cluster stops on its own (the CLI writes it to stderr). */
  report: (message: string) => void;
  /** @default the CrashHistory defaults: give up after more than 5 crashes within 60 s */
  restart?: RestartPolicyOptions;
}

/** Time a draining worker gets past the drain window before it is killed, in ms. */
const DRAIN_GRACE_MS = 5_000;

/** One worker position (1 to N); its worker process is replaced when it crashes. */
class Slot implements BalancerTarget {
  worker: Worker | undefined;
  state: "starting" | "ready" | "down" = "down";
  /** The primary killed the current process itself, so its exit is no crash. */
  killed = false;
  restarts = 0;
  restartTimer: NodeJS.Timeout | undefined;
  stats: NodeInfo | undefined;
  handed = 0;
  accepted = 0;
  open = 0;
  readonly crashes: CrashHistory;

  constructor(
    readonly index: number,
    restart: RestartPolicyOptions | undefined,
    private readonly logger: Logger,
  ) {
    this.crashes = new CrashHistory(restart);
  }

  /** Takes a freshly forked worker: its counts start from zero. */
  use(worker: Worker): void {
    this.worker = worker;
    this.state = "starting";
    this.killed = false;
    this.stats = undefined;
    this.handed = 0;
    this.accepted = 0;
    this.open = 0;
  }

  get pid(): number | undefined {
    return this.worker?.process.pid;
  }

  get load(): number {
    return this.open + this.handed - this.accepted;
  }

  hand(socket: Socket): void {
    const worker = this.worker;
    if (worker === undefined) {
      socket.destroy();
      return;
    }
    this.handed += 1;
    const message: PrimaryMessage = { hubcast: "socket" };
    worker.send(message, socket, { keepOpen: false }, (err) => {
      if (err === null) return;
      if (this.worker === worker) this.handed -= 1;
      socket.destroy();
      this.logger.warn({ err, worker: this.index }, "handing a connection to a worker failed");
    });
  }

  kill(): void {
    this.killed = true;
    this.worker?.process.kill("SIGKILL");
  }
}

/**
 * A node:cluster primary: runs `count` workers (the same CLI entry, the same options),
 * restarts a crashed one with backoff and gives up when one crashes in a loop, drains every
 * worker on SIGTERM/SIGINT (a second signal kills them), logs per-worker stats, and with the
 * memory engine relays engine calls between workers (EngineRelay). Connections reach the
 * workers by node:cluster's round-robin, or through the primary by least connections.
 * A worker's `/metrics` scrape comes here, and is answered with every worker's metrics.
 */
class Supervisor {
  private readonly slots: Slot[];
  private readonly metrics: MetricsCollector;
  private relay: EngineRelay | undefined;
  private balancer: LeastConnectionsBalancer | undefined;
  private url: string | undefined;
  private listening = false;
  private stopping = false;
  private ended = false;
  private status = 0;
  private statsTimer: NodeJS.Timeout | undefined;
  private forceTimer: NodeJS.Timeout | undefined;
  private readonly evictions: Counter<string>;
  private finish: (status: number) => void = () => undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => this.shutdown(signal);

  constructor(private readonly settings: PrimarySettings) {
    this.slots = Array.from({ length: settings.count }, (_, i) => new Slot(i + 1, settings.restart, settings.logger));
    const own = new Registry();
    this.evictions = new Counter({
      name: "hubcast_history_evictions_total",
      help: "Retained history the memory engine dropped to stay within its node-wide bounds, by reason.",
      labelNames: ["reason"],
      registers: [own],
    });
    for (const reason of ["bytes", "channels"]) this.evictions.inc({ reason }, 0);
    // The shared memory engine lives here, so its evictions are counted here and summed into the cluster's scrape.
    this.metrics = new MetricsCollector({
      workers: settings.count,
      logger: settings.logger,
      own: () => Registry.merge([processMetrics(), own]).getMetricsAsJSON(),
    });
  }

  async run(): Promise<number> {
    const { options, logger, count } = this.settings;
    cluster.schedulingPolicy = cluster.SCHED_RR;
    // Structured clone keeps publication bytes binary between the relay and the workers.
    cluster.setupPrimary({ serialization: "advanced" });
    if (options.balancing === "least-connections") {
      this.balancer = new LeastConnectionsBalancer(() => this.slots.filter((s) => s.state === "ready"), logger);
      this.url = await this.balancer.listen(options.port, options.host, options.listenBacklog);
    }
    if (options.engine === "memory") {
      const engine = new MemoryEngine(memoryEngineOptions(options));
      engine.observe({ reconnected() {}, error() {}, historyEvicted: (reason) => this.evictions.inc({ reason }) });
      this.relay = new EngineRelay(engine, logger);
      await this.relay.start();
    }
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    process.on("SIGTERM", this.onSignal);
    process.on("SIGINT", this.onSignal);
    logger.info(
      { workers: count, balancing: options.balancing, engine: options.engine },
      "cluster primary starting workers",
    );
    for (const slot of this.slots) this.fork(slot);
    if (options.workerStatsIntervalMs > 0)
      this.statsTimer = setInterval(() => this.logStats(), options.workerStatsIntervalMs);
    return done;
  }

  private fork(slot: Slot): void {
    const { logger } = this.settings;
    const worker = cluster.fork({ [WORKER_ENV.slot]: String(slot.index), [WORKER_ENV.clusterUrl]: this.url ?? "" });
    slot.use(worker);
    this.relay?.attach(
      workerLink(worker, (err) => logger.warn({ err, worker: slot.index }, "relay message to a worker failed")),
    );
    worker.on("message", (message: unknown) => {
      if (isWorkerMessage(message) && slot.worker === worker) this.receive(slot, message);
    });
    worker.on("error", (err: Error) => logger.warn({ err, worker: slot.index }, "worker IPC error"));
    worker.on("exit", (code: number | null, signal: string | null) => {
      if (slot.worker === worker) this.exited(slot, code, signal);
    });
    logger.info({ worker: slot.index, workerPid: slot.pid, restarts: slot.restarts }, "worker started");
  }

  private receive(slot: Slot, message: WorkerMessage): void {
    switch (message.hubcast) {
      case "ready":
        slot.state = "ready";
        this.url ??= message.url;
        this.settings.logger.info(
          { worker: slot.index, workerPid: slot.pid, node: message.node, url: message.url },
          "worker ready",
        );
        this.balancer?.flush();
        this.announce();
        return;
      case "stats":
        slot.stats = message.info;
        return;
      case "connections":
        slot.accepted = message.accepted;
        slot.open = message.open;
        return;
      case "scrape":
        this.scrape(slot, message.id);
        return;
      case "metrics":
        this.metrics.report(slot.index, message.id, message.metrics);
        return;
    }
  }

  /** Answers worker `asker`'s scrape `id` with every ready worker's metrics, aggregated. */
  private scrape(asker: Slot, id: number): void {
    const { logger } = this.settings;
    const worker = asker.worker;
    const reply = (text: string | null): void => {
      if (asker.worker !== worker || worker === undefined) return; // the asker is gone: nobody waits for the answer
      const message: PrimaryMessage = { hubcast: "scraped", id, text };
      worker.send(message, (err) => {
        if (err !== null) logger.warn({ err, worker: asker.index }, "answering a metrics scrape failed");
      });
    };
    const ready = this.slots.filter((s) => s.state === "ready").map((s) => this.metricsWorker(s));
    this.metrics.collect(ready).then(reply, (err: unknown) => {
      logger.error({ err }, "aggregating the cluster's metrics failed");
      reply(null);
    });
  }

  /** `slot`'s current process, as the metrics collector asks it. */
  private metricsWorker(slot: Slot): MetricsWorker {
    const worker = slot.worker;
    return {
      index: slot.index,
      ask: (id) => {
        const message: PrimaryMessage = { hubcast: "collect", id };
        if (worker === undefined) this.metrics.unreachable(slot.index);
        else
          worker.send(message, (err) => {
            if (err !== null) this.metrics.unreachable(slot.index);
          });
      },
    };
  }

  /** Logs "hubcast listening" once, when every worker is first ready. */
  private announce(): void {
    if (this.listening || this.stopping || !this.slots.every((s) => s.state === "ready")) return;
    this.listening = true;
    const { options, count } = this.settings;
    this.settings.logger.info(
      { url: this.url, engine: options.engine, workers: count, balancing: options.balancing },
      "hubcast listening",
    );
  }

  private exited(slot: Slot, code: number | null, signal: string | null): void {
    const { logger, report } = this.settings;
    const pid = slot.pid;
    const killed = slot.killed;
    slot.worker = undefined;
    slot.state = "down";
    this.metrics.unreachable(slot.index);
    if (this.stopping) {
      logger.info({ worker: slot.index, workerPid: pid, code, signal }, "worker exited");
      if (code !== 0 && !killed) this.status = 1;
      this.endIfAllDown();
      return;
    }
    if (code === 2) {
      report(
        `worker ${slot.index} could not start: exit status 2, a configuration problem (its message is above). Not restarting; stopping the cluster.`,
      );
      this.abort(2);
      return;
    }
    const decision = slot.crashes.record();
    const exit = signal === null ? `exit status ${code}` : `signal ${signal}`;
    if (decision.giveUp) {
      logger.error(
        { worker: slot.index, workerPid: pid, code, signal, crashes: decision.crashes },
        "worker crashes in a loop: giving up",
      );
      report(
        `worker ${slot.index} crashed ${decision.crashes} times, more than the limit of ${slot.crashes.limit} (last: ${exit}); giving up and stopping the cluster. See the worker's log above for the cause.`,
      );
      this.abort(1);
      return;
    }
    logger.warn(
      { worker: slot.index, workerPid: pid, code, signal, crashes: decision.crashes, restartInMs: decision.delayMs },
      "worker exited unexpectedly; restarting it",
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      slot.restarts += 1;
      this.fork(slot);
    }, decision.delayMs);
  }

  private shutdown(signal: NodeJS.Signals): void {
    const { logger, options } = this.settings;
    if (this.stopping) {
      logger.warn({ signal }, "second signal: killing every worker");
      this.status = 1;
      this.killAll();
      return;
    }
    this.stopping = true;
    logger.info({ signal }, "shutting down: draining every worker");
    this.stopAccepting();
    const drain: PrimaryMessage = { hubcast: "drain" };
    for (const slot of this.slots) {
      if (slot.state === "ready") {
        slot.worker?.send(drain, (err) => {
          if (err !== null) logger.warn({ err, worker: slot.index }, "drain request to a worker failed");
        });
      } else slot.kill(); // not serving yet: nothing to drain
    }
    this.forceTimer = setTimeout(() => {
      logger.error(
        { afterMs: options.drainWindowMs + DRAIN_GRACE_MS },
        "workers still running after the drain window; killing them",
      );
      this.status = 1;
      this.killAll();
    }, options.drainWindowMs + DRAIN_GRACE_MS);
    this.endIfAllDown();
  }

  /** Stops the cluster now (a worker cannot be kept running) with `status`. */
  private abort(status: number): void {
    this.stopping = true;
    this.status = status;
    this.stopAccepting();
    this.killAll();
    this.endIfAllDown();
  }

  private stopAccepting(): void {
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    this.balancer?.close().catch((err: unknown) => this.settings.logger.warn({ err }, "closing the listener failed"));
  }

  private killAll(): void {
    for (const slot of this.slots) slot.kill();
  }

  private endIfAllDown(): void {
    if (this.ended || this.slots.some((s) => s.worker !== undefined)) return;
    this.ended = true;
    clearInterval(this.statsTimer);
    clearTimeout(this.forceTimer);
    process.off("SIGTERM", this.onSignal);
    process.off("SIGINT", this.onSignal);
    const closing = [this.relay?.close(), this.balancer?.close()];
    Promise.all(closing).then(
      () => this.finish(this.status),
      (err: unknown) => {
        this.settings.logger.error({ err }, "closing the primary failed");
        this.finish(1);
      },
    );
  }

  private logStats(): void {
    for (const slot of this.slots) {
      const stats = slot.stats;
      this.settings.logger.info(
        {
          worker: slot.index,
          workerPid: slot.pid,
          state: slot.state,
          node: stats?.id,
          connections: stats?.connections ?? 0,
          subscriptions: stats?.subscriptions ?? 0,
          channels: stats?.channels ?? 0,
          restarts: slot.restarts,
        },
        "worker stats",
      );
    }
  }
}

/**
 * Runs a cluster primary until the cluster stops; resolves with the status to exit with:
 * 0 after a graceful drain, 1 when a worker crashed in a loop or the shutdown was forced,
 * 2 when a worker could not start for a configuration problem. Rejects when the primary
 * cannot listen (least-connections: EADDRINUSE, EADDRNOTAVAIL).
 */
export function runPrimary(settings: PrimarySettings): Promise<number> {
  return new Supervisor(settings).run();
}
