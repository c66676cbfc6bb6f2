import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { withTimeout } from "./raw-client.js";
import { freePort, redisCli } from "./redis.js";

const run = promisify(execFile);

/** Redis Cluster nodes talk to each other on their port + 10 000 (the cluster bus). */
const BUS_PORT_OFFSET = 10_000;
const SLOTS = 16_384;
/** How long the cluster may take to agree on its slots after `--cluster create`. */
const CLUSTER_READY_MS = 20_000;

/** True when nothing listens on `port` on loopback (bound and released at once). */
async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (bound) await new Promise((resolve) => server.close(resolve));
  return bound;
}

/** A free port whose cluster bus port (port + 10 000) is a valid port and free too. */
async function freeClusterPort(taken: ReadonlySet<number>): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await freePort();
    if (port + BUS_PORT_OFFSET > 65_535 || taken.has(port) || taken.has(port + BUS_PORT_OFFSET)) continue;
    if (await portIsFree(port + BUS_PORT_OFFSET)) return port;
  }
  throw new Error("found no free port pair (port, port + 10000) for a Redis Cluster node");
}

/** Starts one cluster-enabled `redis-server`; resolves when it accepts connections. */
async function startClusterNode(port: number, dir: string): Promise<ChildProcess> {
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    join(dir, `nodes-${port}.conf`),
    "--cluster-node-timeout",
    "2000",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
  ];
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      output += d.toString();
      if (output.includes("Ready to accept connections")) resolve();
    });
    child.on("exit", (code) =>
      reject(new Error(`cluster redis-server on ${port} exited with ${code}: ${output.slice(-500)}`)),
    );
  });
  try {
    await withTimeout(ready, 10_000, `cluster redis-server on port ${port}`);
    return child;
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
}

/** Kills `child` (SIGKILL) and waits for it to exit. */
async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await withTimeout(exited, 5_000, "cluster redis-server to exit");
}

/** `cluster info` of the node on `port` as a field → value map. */
async function clusterInfo(port: number): Promise<Map<string, string>> {
  const text = await redisCli(port, "cluster", "info");
  return new Map(text.split(/\r?\n/).map((line) => line.split(":") as [string, string]));
}

/**
 * A Redis Cluster of the test's own: `masters` cluster-enabled `redis-server` processes on
 * free loopback ports, no replicas, no persistence, every slot assigned. `start()` resolves
 * once every node reports `cluster_state:ok`; `stop()` kills every process and removes the
 * temporary directory holding their `nodes-<port>.conf` files.
 */
export class RedisCluster {
  private constructor(
    readonly ports: readonly number[],
    private readonly processes: ChildProcess[],
    private readonly dir: string,
  ) {}

  /** Seed URLs, one per master: `redis://127.0.0.1:<port>`. */
  get urls(): string[] {
    return this.ports.map((port) => `redis://127.0.0.1:${port}`);
  }

  static async start(masters = 3): Promise<RedisCluster> {
    if (!Number.isInteger(masters) || masters < 3)
      throw new TypeError(`a Redis Cluster needs at least 3 masters, got ${masters}`);
    const dir = mkdtempSync(join(tmpdir(), "hubcast-redis-cluster-"));
    const ports: number[] = [];
    const processes: ChildProcess[] = [];
    const cluster = new RedisCluster(ports, processes, dir);
    try {
      const taken = new Set<number>();
      for (let i = 0; i < masters; i++) {
        const port = await freeClusterPort(taken);
        taken.add(port).add(port + BUS_PORT_OFFSET);
        ports.push(port);
      }
      processes.push(...(await Promise.all(ports.map((port) => startClusterNode(port, dir)))));
      const nodes = ports.map((port) => `127.0.0.1:${port}`);
      await run("redis-cli", ["--cluster", "create", ...nodes, "--cluster-replicas", "0", "--cluster-yes"], {
        timeout: 30_000,
      });
      await cluster.waitUntilReady();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** Runs `redis-cli -p <port> ...args` against one node (no redirects: keys are that node's own). */
  cli(port: number, ...args: string[]): Promise<string> {
    return redisCli(port, ...args);
  }

  /** Kills every node and removes the temporary directory. */
  async stop(): Promise<void> {
    await Promise.all(this.processes.splice(0).map(killProcess));
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Polls `cluster info` until every node sees all nodes, all slots assigned and state ok. */
  private async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + CLUSTER_READY_MS;
    let last = "";
    for (;;) {
      const infos = await Promise.all(this.ports.map(clusterInfo));
      const ready = infos.every(
        (info) =>
          info.get("cluster_state") === "ok" &&
          info.get("cluster_slots_assigned") === String(SLOTS) &&
          info.get("cluster_known_nodes") === String(this.ports.length),
      );
      if (ready) return;
      last = infos
        .map(
          (info) =>
            `${info.get("cluster_state")}/${info.get("cluster_slots_assigned")}/${info.get("cluster_known_nodes")}`,
        )
        .join(", ");
      if (Date.now() > deadline)
        throw new Error(`Redis Cluster not ready after ${CLUSTER_READY_MS} ms (state/slots/known nodes: ${last})`);
      // Polling is the only way to observe cluster convergence from outside.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
