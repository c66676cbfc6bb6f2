import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { SurveyOptions } from "../control.js";
import type { ApiBackend } from "../http/api-backend.js";
import type { Hub } from "../hub.js";
import type { NodeInfo } from "../registry/registry.js";
import { ADMIN_API_PREFIX, createAdminApi } from "./admin-api.js";
import { AdminCluster } from "./cluster.js";
import { LiveStreams } from "./live.js";
import { LoginLimiter } from "./login-limits.js";
import { answerAdminQuestion } from "./questions.js";
import type { LocalNode, NodeStats } from "./questions.js";
import { AdminSessions } from "./session.js";
import { loadAdminFiles, serveAdminFile } from "./static.js";
import { StatsSampler } from "./stats-sampler.js";

/** Whether `path` belongs to the admin UI: `/admin` and everything under `/admin/`. */
export const isAdminPath = (path: string): boolean => path === "/admin" || path.startsWith("/admin/");

/** What the admin UI needs from its node. */
export interface AdminServiceDeps {
  /** The admin password (not empty). */
  password: string;
  nodeId: string;
  api: ApiBackend;
  /** Asks every node a question over the control plane. */
  survey(question: string, options: SurveyOptions): Promise<Map<string, unknown>>;
  /** The nodes in the registry. */
  registry(): Promise<NodeInfo[]>;
  /** What the node tells the registry about itself, read now. */
  info(): NodeInfo;
  ready(): boolean;
  /** The user of each connected connection on this node (`""`: anonymous). */
  connectedUsers(): Iterable<string>;
  hub: Pick<Hub, "channelSummaries" | "liveCount" | "publicationsReceived" | "sampleRates">;
  /** Publication frames written to clients since the node started. */
  deliveries(): number;
  logger: Logger;
  /** The node's fault boundary for a request that failed unexpectedly (500, logged and counted). */
  fail(req: IncomingMessage, res: ServerResponse, err: unknown): void;
  /** Where the page's files are. @default packages/server/public/admin/ */
  publicDir?: string;
}

/**
 * The admin web UI of one node, on when the node has an `adminPassword`: its page and API under
 * `/admin`, its answers to the other nodes' admin questions, and the once-a-second sampler
 * whose history the charts show.
 */
export class AdminService {
  private readonly sampler: StatsSampler;
  private readonly live: LiveStreams;
  private readonly local: LocalNode;
  private readonly sessions: AdminSessions;
  private readonly limiter = new LoginLimiter();
  private readonly cluster: AdminCluster;

  constructor(private readonly deps: AdminServiceDeps) {
    const { hub } = deps;
    this.sessions = new AdminSessions(deps.password);
    this.sampler = new StatsSampler({
      connections: () => deps.info().connections,
      publications: () => hub.publicationsReceived,
      deliveries: () => deps.deliveries(),
      tick: (elapsedMs) => hub.sampleRates(elapsedMs),
    });
    const cluster = new AdminCluster({
      nodeId: deps.nodeId,
      survey: (question, options) => deps.survey(question, options),
      registry: () => deps.registry(),
    });
    this.cluster = cluster;
    this.live = new LiveStreams((timeoutMs) => cluster.nodes(timeoutMs), deps.logger);
    this.local = {
      stats: () => this.stats(),
      history: () => this.sampler.history(),
      channels: () => hub.channelSummaries(),
      subscribers: (channel) => hub.liveCount(channel),
      connectedUsers: () => deps.connectedUsers(),
    };
  }

  /** Starts sampling (the node started). */
  start(): void {
    this.sampler.start();
  }

  /** Ends the live streams and stops sampling (the node is closing). */
  close(): void {
    this.live.close();
    this.sampler.stop();
  }

  /** This node's answer to an admin survey question; `null` for one it does not know. */
  answer(question: string, args: unknown): unknown {
    return answerAdminQuestion(question, args, this.local);
  }

  /** Reads the page's files and returns the handler of every `/admin` path. */
  async handler(): Promise<(req: IncomingMessage, res: ServerResponse, path: string) => void> {
    const files = await loadAdminFiles(this.deps.logger, this.deps.publicDir);
    const api = createAdminApi(
      {
        sessions: this.sessions,
        limiter: this.limiter,
        cluster: this.cluster,
        api: this.deps.api,
        live: this.live,
        logger: this.deps.logger,
      },
      this.deps.fail,
    );
    return (req, res, path) => {
      if (path === "/admin/api" || path.startsWith(ADMIN_API_PREFIX)) api(req, res, path);
      else serveAdminFile(req, res, path, files);
    };
  }

  private stats(): NodeStats {
    const info = this.deps.info();
    const latest = this.sampler.latest();
    return {
      id: info.id,
      address: info.address,
      version: info.version,
      uptimeMs: Math.max(0, Date.now() - info.startedAt),
      ready: this.deps.ready(),
      connections: info.connections,
      subscriptions: info.subscriptions,
      channels: info.channels,
      publicationsPerSecond: latest?.[2] ?? 0,
      deliveriesPerSecond: latest?.[3] ?? 0,
      rssBytes: latest?.[4] ?? 0,
      eventLoopLagMs: latest?.[5] ?? 0,
    };
  }
}
