import { hostname } from "node:os";
import { Socket } from "node:net";
import { pino } from "pino";
import { logDestination } from "../cli/log-destination.js";
import type { Logger } from "pino";
import type { HubcastNode, NodeServices, StartOptions } from "../node.js";
import type { NodeOptions, ResolvedNodeOptions } from "../options.js";
import { ClusterScrape, reportMetrics } from "./cluster-scrape.js";
import { IpcEngine } from "./ipc-engine.js";
import type { WorkerMessage } from "./messages.js";
import { isPrimaryMessage } from "./messages.js";
import { processLink } from "./relay-link.js";

/** What the primary tells a worker about itself (the CLI reads it from WORKER_ENV). */
export interface WorkerSettings {
  /** The worker's slot, 1 to N: stable across restarts; it names the worker in every log line. */
  slot: number;
  /** Where the primary accepts connections (least-connections balancing); "" when workers listen themselves. */
  clusterUrl: string;
}

/** How often a worker sends its stats to the primary, in ms. */
const STATS_REPORT_MS = 1_000;

/**
 * The worker side of cluster mode, around the worker's HubcastNode: its log lines name the
 * worker, with the memory engine it runs an IpcEngine over its IPC channel to the primary's
 * relay, it tells the primary when it is ready and how it is doing, it follows the
 * primary's requests: drain, and (least-connections) serve the sockets it is handed, and
 * its `/metrics` answers for the whole cluster, aggregated by the primary.
 */
export class ClusterWorker {
  /** The worker's logger: every line carries `worker: <slot>`. */
  readonly logger: Logger;
  private readonly leastConnections: boolean;
  private accepted = 0;
  private open = 0;
  private readonly toPrimary = (message: WorkerMessage): boolean => this.send(message);
  private readonly scrapes = new ClusterScrape(this.toPrimary);

  constructor(
    private readonly options: ResolvedNodeOptions,
    private readonly settings: WorkerSettings,
  ) {
    this.logger = pino(
      { level: options.logLevel, base: { pid: process.pid, hostname: hostname(), worker: settings.slot } },
      logDestination(options),
    );
    this.leastConnections = options.balancing === "least-connections";
    if (this.leastConnections && settings.clusterUrl === "")
      throw new Error("a least-connections worker needs the primary's URL; was it started by a hubcast primary?");
  }

  /** The node options to run: with least-connections balancing, the node is reached at the primary's address. */
  nodeOptions(options: NodeOptions): NodeOptions {
    if (!this.leastConnections || this.options.advertiseUrl !== "") return options;
    return { ...options, advertiseUrl: this.settings.clusterUrl };
  }

  /** The node's services: this logger, and with the memory engine the relayed engine. */
  services(): NodeServices {
    if (this.options.engine !== "memory") return { logger: this.logger };
    const link = processLink(process, (err) => this.logger.warn({ err }, "relay message to the primary failed"));
    return { logger: this.logger, engine: new IpcEngine(link) };
  }

  /** How the node starts: it listens on the shared port unless the primary hands it sockets, and scrapes the whole cluster for /metrics. */
  startOptions(): StartOptions {
    return { listen: !this.leastConnections, listeningMessage: "worker listening", metrics: this.scrapes };
  }

  /**
   * Once `node` has started: follows the primary's requests (`drain` calls `drain`), and
   * reports ready and stats. A scrape's answer needs a round trip to the primary, so it
   * cannot arrive before this runs, right after `start()` resolves.
   */
  attach(node: HubcastNode, drain: () => void): void {
    process.on("message", (message: unknown, handle: unknown) => {
      if (!isPrimaryMessage(message)) return;
      switch (message.hubcast) {
        case "drain":
          drain();
          return;
        case "socket":
          if (handle instanceof Socket) this.serve(node, handle);
          else this.logger.warn("socket message from the primary without a socket");
          return;
        case "collect":
          reportMetrics(node.metrics, message.id, this.toPrimary, this.logger);
          return;
        case "scraped":
          this.scrapes.answered(message.id, message.text);
          return;
      }
    });
    this.send({ hubcast: "ready", url: node.info().address, node: node.id });
    setInterval(() => this.send({ hubcast: "stats", info: node.info() }), STATS_REPORT_MS).unref();
  }

  private serve(node: HubcastNode, socket: Socket): void {
    this.accepted += 1;
    this.open += 1;
    socket.once("close", () => {
      this.open -= 1;
      this.reportConnections();
    });
    node.acceptConnection(socket);
    this.reportConnections();
  }

  private reportConnections(): void {
    this.send({ hubcast: "connections", accepted: this.accepted, open: this.open });
  }

  /** Sends `message` to the primary; false when there is no IPC channel to send it on. */
  private send(message: WorkerMessage): boolean {
    if (process.send === undefined || !process.connected) return false;
    process.send(message, undefined, {}, (err: Error | null) => {
      if (err !== null && process.connected) this.logger.warn({ err }, "message to the primary failed");
    });
    return true;
  }
}
