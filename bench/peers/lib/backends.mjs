/**
 * The servers the engines run on, started once per run on free loopback ports and kept
 * across systems: one redis-server, one nats-server -js, and a Redis Cluster of three
 * masters (no replicas, no persistence). Each is a tracked process of `ctx.processes`, so it
 * is stopped at the end, on error and on Ctrl-C like every other.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, portIsFree } from "./processes.mjs";

const run = promisify(execFile);

/** Redis Cluster nodes talk to each other on their port + 10 000 (the cluster bus). */
const BUS_PORT_OFFSET = 10_000;
const SLOTS = 16_384;
/** How long a new cluster may take to agree on its slots after `--cluster create`. */
const CLUSTER_READY_MS = 20_000;

/** redis-server flags shared by the single server and the cluster nodes: loopback, no persistence. */
const redisArgs = (port, dir) => [
  "--port",
  String(port),
  "--bind",
  "127.0.0.1",
  "--save",
  "",
  "--appendonly",
  "no",
  "--dir",
  dir,
];

/** Starts the run's redis-server; sets `ctx.redisUrl` and `ctx.redisPid`. */
export async function startRedis(ctx) {
  const port = await freePort();
  const started = await ctx.processes.start({
    label: "redis",
    command: "redis-server",
    args: redisArgs(port, ctx.workDir),
    ready: /Ready to accept connections/,
  });
  ctx.redisPid = started.pid;
  ctx.redisUrl = `redis://127.0.0.1:${port}`;
}

/** Starts the run's nats-server with JetStream; sets `ctx.natsUrl` and `ctx.natsPid`. */
export async function startNats(ctx) {
  const port = await freePort();
  const started = await ctx.processes.start({
    label: "nats",
    command: "nats-server",
    args: ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", join(ctx.workDir, "nats")],
    ready: /Server is ready/,
  });
  ctx.natsPid = started.pid;
  ctx.natsUrl = `nats://127.0.0.1:${port}`;
}

/** A free port whose cluster bus port (port + 10 000) is a valid port and free too. */
async function freeClusterPort(taken) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await freePort();
    if (port + BUS_PORT_OFFSET > 65_535 || taken.has(port) || taken.has(port + BUS_PORT_OFFSET)) continue;
    if (await portIsFree(port + BUS_PORT_OFFSET)) return port;
  }
  throw new Error("found no free port pair (port, port + 10000) for a Redis Cluster node");
}

/** `cluster info` of the node on `port` as a field → value map. */
async function clusterInfo(port) {
  const { stdout } = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "cluster", "info"], {
    timeout: 10_000,
  });
  return new Map(stdout.split(/\r?\n/).map((line) => line.trim().split(":")));
}

/** Polls `cluster info` until every node sees all nodes, every slot is assigned and the state is ok. */
async function waitForCluster(ports) {
  const deadline = Date.now() + CLUSTER_READY_MS;
  for (;;) {
    const infos = await Promise.all(ports.map(clusterInfo));
    const ready = infos.every(
      (info) =>
        info.get("cluster_state") === "ok" &&
        info.get("cluster_slots_assigned") === String(SLOTS) &&
        info.get("cluster_known_nodes") === String(ports.length),
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`the Redis Cluster was not ready after ${CLUSTER_READY_MS / 1000} s`);
    // Polling is the only way to observe cluster convergence from outside.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Starts a Redis Cluster of `masters` cluster-enabled redis-servers and assigns every slot;
 * sets `ctx.redisClusterUrls` (one seed URL per master) and `ctx.redisClusterPids`.
 */
export async function startRedisCluster(ctx, masters = 3) {
  const taken = new Set();
  const ports = [];
  for (let i = 0; i < masters; i++) {
    const port = await freeClusterPort(taken);
    taken.add(port).add(port + BUS_PORT_OFFSET);
    ports.push(port);
  }
  const started = await Promise.all(
    ports.map((port) =>
      ctx.processes.start({
        label: `redis-cluster-${port}`,
        command: "redis-server",
        args: [
          ...redisArgs(port, ctx.workDir),
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(ctx.workDir, `nodes-${port}.conf`),
          "--cluster-node-timeout",
          "2000",
        ],
        ready: /Ready to accept connections/,
      }),
    ),
  );
  ctx.redisClusterPids = started.map((s) => s.pid);
  const nodes = ports.map((port) => `127.0.0.1:${port}`);
  await run("redis-cli", ["--cluster", "create", ...nodes, "--cluster-replicas", "0", "--cluster-yes"], {
    timeout: 30_000,
  });
  await waitForCluster(ports);
  ctx.redisClusterUrls = ports.map((port) => `redis://127.0.0.1:${port}`);
}

/** The engine servers a system's deliveries pass through (Redis, its cluster, or NATS): their CPU is counted apart. */
export function backendPidsOf(ctx, system) {
  if (system.redisCluster === true) return ctx.redisClusterPids ?? [];
  if (system.redis) return ctx.redisPid === undefined ? [] : [ctx.redisPid];
  if (system.nats === true) return ctx.natsPid === undefined ? [] : [ctx.natsPid];
  return [];
}

/** Starts the engine servers the selected systems need. */
export async function startBackends(ctx, systems) {
  if (systems.some((s) => s.redis && s.redisCluster !== true)) await startRedis(ctx);
  if (systems.some((s) => s.nats === true)) await startNats(ctx);
  if (systems.some((s) => s.redisCluster === true)) await startRedisCluster(ctx);
}

/** Pids of every engine server started, which stay up across systems. */
export const backendPids = (ctx) =>
  [ctx.redisPid, ctx.natsPid, ...(ctx.redisClusterPids ?? [])].filter((pid) => pid !== undefined);
