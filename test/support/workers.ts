import type { NodeInfo } from "../../packages/server/src/registry/registry.js";
import { eventually } from "./eventually.js";
import { ServerProcess } from "./processes.js";
import { RawClient } from "./raw-client.js";
import { CLUSTER_NAMESPACES, configFile } from "./redis-nodes.js";

/** The server API key every test cluster runs with. */
export const WORKERS_API_KEY = "cluster-mode-test-key-0123";

type LogLine = Record<string, unknown>;

/**
 * A `hubcast start --workers N` process tree for tests: the primary (a ServerProcess) and its
 * workers, with helpers to read the cluster view and the primary's log. `stop()` drains it
 * with SIGTERM and makes sure no worker outlives the test.
 */
export class WorkerCluster {
  private readonly clients: RawClient[] = [];
  private stderrText = "";

  private constructor(readonly server: ServerProcess) {
    server.child.stderr?.on("data", (d: Buffer) => (this.stderrText += d.toString()));
  }

  /** What the primary and its workers wrote to stderr since the cluster listened. */
  get stderr(): string {
    return this.stderrText;
  }

  /**
   * Starts `--workers 2` (unless `args` says otherwise) on a free port with the multi-node
   * namespaces, an API key, a short node TTL (the view refreshes every 200 ms) and a short
   * drain window; `args` come last and win.
   */
  static async start(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<WorkerCluster> {
    const config = configFile({ namespaces: CLUSTER_NAMESPACES, demo: false });
    const base = [
      "--workers",
      "2",
      "--port",
      "0",
      "--config",
      config,
      "--api-key",
      WORKERS_API_KEY,
      "--node-ttl-ms",
      "600",
      "--drain-window-ms",
      "300",
    ];
    return new WorkerCluster(await ServerProcess.start([...base, ...args], env));
  }

  get url(): string {
    return this.server.url;
  }

  get wsUrl(): string {
    return this.server.wsUrl;
  }

  /** The primary's log lines (the workers' lines are interleaved: they carry `worker` and their own pid). */
  get logs(): LogLine[] {
    return this.server.logs;
  }

  /** Lines the primary itself logged with message `msg`. */
  primaryLogs(msg: string): LogLine[] {
    const pid = this.server.child.pid;
    return this.logs.filter((l) => l["msg"] === msg && l["pid"] === pid);
  }

  /** Waits for a primary log line with message `msg` that `match` accepts. */
  async primaryLog(msg: string, match: (line: LogLine) => boolean = () => true, timeoutMs = 10_000): Promise<LogLine> {
    let found: LogLine | undefined;
    await eventually(
      () => {
        found = this.primaryLogs(msg).find(match);
        return found !== undefined;
      },
      timeoutMs,
      `primary log "${msg}"`,
      20,
    );
    return found as LogLine;
  }

  /** Worker slot → the pid of its current process, from the primary's "worker ready" lines. */
  workerPids(): Map<number, number> {
    const pids = new Map<number, number>();
    for (const line of this.primaryLogs("worker ready"))
      pids.set(line["worker"] as number, line["workerPid"] as number);
    return pids;
  }

  /** The cluster view, as `GET /api/nodes` on whichever worker answers. */
  async nodes(): Promise<NodeInfo[]> {
    const res = await fetch(`${this.url}/api/nodes`, {
      headers: { Authorization: `Bearer ${WORKERS_API_KEY}` },
      signal: AbortSignal.timeout(2_000),
    });
    if (res.status !== 200) throw new Error(`GET /api/nodes answered ${res.status}`);
    return ((await res.json()) as { nodes: NodeInfo[] }).nodes;
  }

  /** Waits until the cluster view satisfies `check` (it refreshes every 200 ms). */
  async viewUntil(check: (nodes: NodeInfo[]) => boolean, what: string, timeoutMs = 10_000): Promise<NodeInfo[]> {
    let nodes: NodeInfo[] = [];
    await eventually(
      async () => {
        nodes = await this.nodes();
        return check(nodes);
      },
      timeoutMs,
      what,
      50,
    );
    return nodes;
  }

  /** A connected raw client, closed by `stop()`. */
  async client(): Promise<RawClient> {
    const client = await RawClient.connected(this.wsUrl);
    this.clients.push(client);
    return client;
  }

  /**
   * Opens `count` clients one after the other (round-robin alternates workers) and waits
   * until the view shows `minEach` connections on each of `workers` nodes.
   */
  async spreadClients(count: number, workers = 2, minEach = 1): Promise<RawClient[]> {
    const opened: RawClient[] = [];
    for (let i = 0; i < count; i++) opened.push(await this.client());
    await this.viewUntil(
      (nodes) => nodes.length === workers && nodes.every((n) => n.connections >= minEach),
      `${count} connections spread over ${workers} workers`,
    );
    return opened;
  }

  /** Closes the clients, drains the cluster (SIGTERM), and kills any worker left behind; resolves with the primary's exit code. */
  async stop(): Promise<number | null> {
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
    let code: number | null;
    try {
      code = await this.server.stop("SIGTERM");
    } catch (err) {
      code = await this.server.stop("SIGKILL");
      if (err instanceof Error) process.stderr.write(`cluster did not stop on SIGTERM: ${err.message}\n`);
    }
    for (const line of this.logs) {
      const pid = line["workerPid"];
      if (typeof pid === "number" && isAlive(pid)) process.kill(pid, "SIGKILL");
    }
    return code;
  }
}

/** True while a process with `pid` exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // it exists, but is not ours to signal
  }
}
