/**
 * The systems a peer run compares, and how each is started: Hubcast (one node, also over its
 * emulations and the Pusher protocol; two nodes on Redis, two on NATS, cluster mode) and the peers in this folder (Socket.IO one node and two nodes with
 * its Redis adapter, plain ws + Redis, ws with the frame built once); and, for the knee sweep,
 * Hubcast scaled out on Redis ({@link SCALE_OUT_SYSTEMS}). Each start resolves with the
 * WebSocket URLs to bench and the pids that make up the server (for /proc).
 */
import { join } from "node:path";

/** Flags every Hubcast node gets, so its abuse limits do not shape the benchmark. */
export const HUBCAST_BENCH_FLAGS = ["--command-rate-per-second", "0", "--max-connections-per-second", "0"];

/** The config file every Hubcast node reads: the bench namespace, clients may publish. */
export const HUBCAST_BENCH_CONFIG = { demo: false, namespaces: { bench: { allowPublish: true } } };

/**
 * The Pusher app the `hubcast-pusher` node serves: the bench's default app
 * (`hubcast bench --protocol pusher` without `--pusher-app`), so the bench needs no credentials.
 */
export const HUBCAST_PUSHER_APP = "bench:bench-key:hubcast-bench-secret";

const PEER_READY = /ready on port (\d+) \(pid (\d+)\)/;
const HUBCAST_READY = /"msg":"hubcast listening"/;

/**
 * @typedef {object} Context
 * @property {import("./processes.mjs").Processes} processes
 * @property {string} repo Repository root.
 * @property {string} peersDir This folder.
 * @property {string} hubcastConfig Path of the Hubcast config file.
 * @property {string | undefined} redisUrl The private Redis's URL (set when a selected system needs it).
 * @property {string | undefined} natsUrl The private nats-server's URL (set when a selected system needs it).
 * @property {string[] | undefined} redisClusterUrls Seed URLs of the private Redis Cluster (set when a selected system needs it).
 * @property {string} runId Unique per run, for Redis key prefixes.
 */

/**
 * @typedef {object} Deployment
 * @property {string[]} urls WebSocket URLs; the first takes the publishers.
 * @property {number[]} pids Server processes (a cluster's primary and its workers).
 */

/**
 * Starts one Hubcast node (a cluster primary with `workers` > 1) and waits for "hubcast listening".
 * With `pusher`, the node also serves {@link HUBCAST_PUSHER_APP} (its publishers use the Pusher HTTP API), and the URL
 * is the node's base (`ws://host:port`), to which the bench adds the Pusher path.
 */
async function startHubcast(
  ctx,
  label,
  { redis = false, redisCluster = false, nats = false, workers = 1, pusher = false } = {},
) {
  const args = [
    join(ctx.repo, "packages/server/dist/cli/main.js"),
    "start",
    "--config",
    ctx.hubcastConfig,
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    ...HUBCAST_BENCH_FLAGS,
    "--drain-window-ms",
    "0",
  ];
  if (redis)
    args.push("--engine", "redis", "--redis-url", ctx.redisUrl, "--redis-prefix", `hubcast-peers-${ctx.runId}`);
  if (redisCluster)
    args.push(
      "--engine",
      "redis",
      "--redis-cluster",
      ctx.redisClusterUrls.join(","),
      "--redis-prefix",
      `hubcast-peers-${ctx.runId}`,
    );
  // A prefix per deployment: each scenario starts on a fresh stream and buckets.
  if (nats)
    args.push(
      "--engine",
      "nats",
      "--nats-url",
      ctx.natsUrl,
      "--redis-prefix",
      `hubcast-peers-${ctx.runId}-${label.replace(/-[ab]-/, "-")}`,
    );
  if (workers > 1) args.push("--workers", String(workers), "--worker-stats-interval-ms", "0");
  if (pusher) args.push("--pusher-app", HUBCAST_PUSHER_APP);
  const started = await ctx.processes.start({ label, command: process.execPath, args, ready: HUBCAST_READY });
  const listening = JSON.parse(started.lines.at(-1));
  const url = `${listening.url.replace(/^http/, "ws")}${pusher ? "" : "/ws"}`;
  const workerPids = started.lines.flatMap((line) => {
    if (!line.includes('"msg":"worker ready"')) return [];
    return [JSON.parse(line).workerPid];
  });
  return { urls: [url], pids: [started.pid, ...workerPids] };
}

/** Starts one peer server from this folder and waits for its ready line. */
async function startPeer(ctx, label, script, extraArgs = []) {
  const started = await ctx.processes.start({
    label,
    command: process.execPath,
    args: [join(ctx.peersDir, script), "--host", "127.0.0.1", "--port", "0", ...extraArgs],
    ready: PEER_READY,
    cwd: ctx.peersDir,
  });
  return { port: Number(started.ready[1]), pid: started.pid };
}

const socketIoUrl = (port) => `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`;

/** Two deployments side by side as one: URLs in order (publishers on the first), all pids. */
function both(a, b) {
  return { urls: [...a.urls, ...b.urls], pids: [...a.pids, ...b.pids] };
}

/**
 * @typedef {object} System
 * @property {string} key Short name (`--only`, result files).
 * @property {string} label Shown in the table.
 * @property {string} protocol `hubcast bench --protocol`.
 * @property {string} [transport] `hubcast bench --transport` (default websocket): what the subscribers use.
 * @property {string[]} [benchArgs] More `hubcast bench` arguments for this system.
 * @property {boolean} redis Whether its deliveries pass through Redis (the private server, or with `redisCluster` the cluster).
 * @property {boolean} [redisCluster] Whether it needs the private Redis Cluster (three masters) instead of the single Redis.
 * @property {boolean} [peer] Whether it runs a server from this folder (needs `npm install` here).
 * @property {boolean} [nats] Whether it needs the private nats-server (its CPU goes in the Redis column).
 * @property {string} design One line on what runs.
 * @property {(ctx: Context, scenario: string) => Promise<Deployment>} start
 */

/** @type {System[]} Hubcast one node first: the ratios are relative to it. */
export const SYSTEMS = [
  {
    key: "hubcast",
    label: "Hubcast, one node",
    protocol: "hubcast",
    redis: false,
    design: "hubcast start, memory engine",
    start: (ctx, s) => startHubcast(ctx, `hubcast-${s}`),
  },
  {
    key: "hubcast-http-stream",
    label: "Hubcast, one node, HTTP-streaming",
    protocol: "hubcast",
    transport: "http-stream",
    redis: false,
    design:
      "hubcast start, memory engine; subscribers over the HTTP-streaming emulation (POST /emulation, NDJSON down, frames up by POST /emulation/send), publisher on WebSocket",
    start: (ctx, s) => startHubcast(ctx, `hubcast-http-stream-${s}`),
  },
  {
    key: "hubcast-sse",
    label: "Hubcast, one node, SSE",
    protocol: "hubcast",
    transport: "sse",
    redis: false,
    design:
      "hubcast start, memory engine; subscribers over the SSE emulation (GET /emulation?connect=…, frames up by POST /emulation/send), publisher on WebSocket",
    start: (ctx, s) => startHubcast(ctx, `hubcast-sse-${s}`),
  },
  {
    key: "hubcast-pusher",
    label: "Hubcast, one node, Pusher protocol",
    protocol: "pusher",
    redis: false,
    design:
      "hubcast start --pusher-app, memory engine; subscribers speak the Pusher protocol 7 (pusher-js's wire format) on /app/{key}, public channel; publisher by the Pusher HTTP API (POST /apps/{id}/events, signed, 10 requests/s)",
    start: (ctx, s) => startHubcast(ctx, `hubcast-pusher-${s}`, { pusher: true }),
  },
  {
    key: "hubcast-redis-2",
    label: "Hubcast, 2 nodes on Redis",
    protocol: "hubcast",
    redis: true,
    design: "two hubcast start --engine redis; publisher on node 1, subscribers split over both",
    start: async (ctx, s) =>
      both(
        await startHubcast(ctx, `hubcast-redis-a-${s}`, { redis: true }),
        await startHubcast(ctx, `hubcast-redis-b-${s}`, { redis: true }),
      ),
  },
  {
    key: "hubcast-nats-2",
    label: "Hubcast, 2 nodes on NATS",
    protocol: "hubcast",
    redis: false,
    nats: true,
    design: "two hubcast start --engine nats (one nats-server -js); publisher on node 1, subscribers split over both",
    start: async (ctx, s) =>
      both(
        await startHubcast(ctx, `hubcast-nats-a-${s}`, { nats: true }),
        await startHubcast(ctx, `hubcast-nats-b-${s}`, { nats: true }),
      ),
  },
  {
    key: "hubcast-cluster-2",
    label: "Hubcast, cluster --workers 2",
    protocol: "hubcast",
    redis: false,
    design: "hubcast start --workers 2 (memory engine relayed by the primary); primary + workers counted",
    start: (ctx, s) => startHubcast(ctx, `hubcast-cluster-${s}`, { workers: 2 }),
  },
  {
    key: "socketio",
    label: "Socket.IO 4, one node",
    protocol: "socketio",
    peer: true,
    redis: false,
    design: "socketio-server.mjs: rooms as channels, WebSocket transport only",
    start: async (ctx, s) => {
      const node = await startPeer(ctx, `socketio-${s}`, "socketio-server.mjs");
      return { urls: [socketIoUrl(node.port)], pids: [node.pid] };
    },
  },
  {
    key: "socketio-redis-2",
    label: "Socket.IO 4, 2 nodes + Redis adapter",
    protocol: "socketio",
    peer: true,
    redis: true,
    design: "two socketio-server.mjs --redis-url (@socket.io/redis-adapter); publisher on node 1, subscribers split",
    start: async (ctx, s) => {
      const redisArgs = ["--redis-url", ctx.redisUrl];
      const a = await startPeer(ctx, `socketio-redis-a-${s}`, "socketio-server.mjs", redisArgs);
      const b = await startPeer(ctx, `socketio-redis-b-${s}`, "socketio-server.mjs", redisArgs);
      return { urls: [socketIoUrl(a.port), socketIoUrl(b.port)], pids: [a.pid, b.pid] };
    },
  },
  {
    key: "ws-redis",
    label: "ws + Redis, send() per client",
    protocol: "ws-plain",
    peer: true,
    redis: true,
    design: "ws-redis-server.mjs: every publication through Redis pub/sub, ws.send() per subscriber",
    start: async (ctx, s) => {
      const node = await startPeer(ctx, `ws-redis-${s}`, "ws-redis-server.mjs", ["--redis-url", ctx.redisUrl]);
      return { urls: [`ws://127.0.0.1:${node.port}/`], pids: [node.pid] };
    },
  },
  {
    key: "ws-frame-once",
    label: "ws + Redis, frame built once",
    protocol: "ws-plain",
    peer: true,
    redis: true,
    design: "ws-frame-once-server.mjs: as ws + Redis, one frame per publication, one socket.write per subscriber",
    start: async (ctx, s) => {
      const node = await startPeer(ctx, `ws-frame-once-${s}`, "ws-frame-once-server.mjs", [
        "--redis-url",
        ctx.redisUrl,
      ]);
      return { urls: [`ws://127.0.0.1:${node.port}/`], pids: [node.pid] };
    },
  },
];

/** `count` Hubcast nodes on the redis engine (single Redis, or the cluster), started one after another. */
async function hubcastNodes(ctx, key, count, engine) {
  const nodes = [];
  for (let n = 0; n < count; n++) nodes.push(await startHubcast(ctx, `${key}-${n + 1}`, engine));
  return { urls: nodes.flatMap((d) => d.urls), pids: nodes.flatMap((d) => d.pids) };
}

/**
 * Hubcast scaled out on Redis, for the knee sweep (with `hubcast-redis-2` from {@link SYSTEMS}):
 * one and three nodes on one Redis, three nodes on a Redis Cluster of three masters.
 */
export const SCALE_OUT_SYSTEMS = [
  {
    key: "hubcast-redis-1",
    label: "Hubcast, 1 node on Redis",
    protocol: "hubcast",
    redis: true,
    design: "hubcast start --engine redis; every publication goes through Redis and back",
    start: (ctx, s) => hubcastNodes(ctx, `hubcast-redis-1-${s}`, 1, { redis: true }),
  },
  {
    key: "hubcast-redis-3",
    label: "Hubcast, 3 nodes on Redis",
    protocol: "hubcast",
    redis: true,
    design: "three hubcast start --engine redis; publisher on node 1, subscribers split over all three",
    start: (ctx, s) => hubcastNodes(ctx, `hubcast-redis-3-${s}`, 3, { redis: true }),
  },
  {
    key: "hubcast-redis-cluster-3",
    label: "Hubcast, 3 nodes on a Redis Cluster",
    protocol: "hubcast",
    redis: true,
    redisCluster: true,
    design:
      "three hubcast start --engine redis --redis-cluster (three masters, sharded pub/sub); publisher on node 1, subscribers split over all three",
    start: (ctx, s) => hubcastNodes(ctx, `hubcast-redis-cluster-3-${s}`, 3, { redisCluster: true }),
  },
];
