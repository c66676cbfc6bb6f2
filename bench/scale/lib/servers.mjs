/**
 * The server side of a scale run, in one of two topologies:
 *
 * - `nodes`: a redis-server of the run's own on a free loopback port, and W independent
 *   `hubcast start --engine redis` nodes, each on its own port and accepting its own
 *   connections. The bench spreads its connections evenly over them (one `--url` each).
 * - `cluster`: `hubcast start --workers W` (memory engine); its primary accepts every
 *   connection and hands it to a worker over IPC.
 *
 * Why two: in cluster mode a new connection cost 1.2–1.4 ms of server CPU against 0.47 ms in
 * one process, because Node hands a worker one socket at a time and waits for its
 * acknowledgement; the 250,000-connection ramps stalled there (docs/deploy.md). Each process
 * is the leader of its own group (GroupProcess), so whatever it forks is found and stopped.
 */
import { execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { GroupProcess } from "./processes.mjs";

export const TOPOLOGIES = ["nodes", "cluster"];

/** True when `command` is on the PATH. */
export function commandExists(command) {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** A loopback port free right now (the kernel's pick). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Resolves with `ready`'s value, or with `{ error }` when the process exits first, the run is
 * stopped, or `timeoutS` passes.
 */
function readyOrError(ready, proc, control, timeoutS, what) {
  let timer;
  return Promise.race([
    ready,
    proc.exited.then((code) => ({ error: `${what} exited with ${code} before it was ready (see ${proc.logFile})` })),
    control.stopped.then((reason) => ({ error: reason })),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve({ error: `${what} was not ready within ${timeoutS} s` }), timeoutS * 1000);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Starts one `hubcast start`; resolves with the process and its listening line (or an error). */
async function startHubcast({ cli, args, logFile, label, control, timeoutS }) {
  let listening;
  const ready = new Promise((resolve) => {
    listening = resolve;
  });
  const proc = new GroupProcess({
    label,
    command: process.execPath,
    args: [cli, ...args],
    logFile,
    onLine: (line) => {
      if (line.includes('"msg":"hubcast listening"')) listening(JSON.parse(line));
    },
  });
  control.processes.push(proc);
  const started = await readyOrError(ready, proc, control, timeoutS, label);
  return { proc, started };
}

/**
 * Starts the servers of `topology` with the options every topology shares (`commonArgs`).
 * Resolves with the processes, their roles (group leader pid → role names), the WebSocket and
 * /metrics URLs, the commands run, a `stop(graceMs)` for the end, and `error` when they did not
 * all come up.
 */
export async function startServers({ topology, workers, balancing, commonArgs, cli, out, control }) {
  const roles = new Map();
  const servers = {
    topology,
    processes: [],
    roles,
    urls: [],
    metricsUrls: [],
    commands: [],
    redis: undefined,
    error: undefined,
  };
  const timeoutS = 30 + 5 * workers;
  if (topology === "cluster") {
    const args = ["start", ...commonArgs, "--workers", String(workers), "--balancing", balancing];
    servers.commands.push(`hubcast ${args.join(" ")}`);
    const { proc, started } = await startHubcast({
      cli,
      args,
      logFile: join(out, "server.log"),
      label: "the server",
      control,
      timeoutS,
    });
    servers.processes.push(proc);
    roles.set(proc.pid, { leader: "server primary", member: "server worker" });
    if (started.error !== undefined) servers.error = started.error;
    else {
      servers.urls.push(started.url);
      servers.metricsUrls.push(`${started.url}/metrics`);
    }
    servers.stop = (graceMs) => stopAll(servers.processes, graceMs);
    return servers;
  }

  const redisPort = await freePort();
  const redisArgs = ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  servers.commands.push(`redis-server ${redisArgs.map((a) => (a === "" ? '""' : a)).join(" ")}`);
  let redisReady;
  const redisUp = new Promise((resolve) => {
    redisReady = resolve;
  });
  const redis = new GroupProcess({
    label: "redis",
    command: "redis-server",
    args: redisArgs,
    logFile: join(out, "redis.log"),
    onLine: (line) => {
      if (line.includes("Ready to accept connections")) redisReady({});
    },
  });
  control.processes.push(redis);
  servers.redis = redis;
  roles.set(redis.pid, { leader: "redis", member: "redis" });
  const up = await readyOrError(redisUp, redis, control, 15, "redis-server");
  const stopRedis = () => redis.stop("SIGTERM", 10_000);
  if (up.error !== undefined) {
    servers.error = up.error;
    servers.stop = async () => {
      await stopRedis();
      return { exitCode: 0, killed: false };
    };
    return servers;
  }
  const args = ["start", ...commonArgs, "--engine", "redis", "--redis-url", `redis://127.0.0.1:${redisPort}`];
  servers.commands.push(`${workers} × hubcast ${args.join(" ")}`);
  const starts = [];
  for (let k = 1; k <= workers; k++)
    starts.push(
      startHubcast({
        cli,
        args,
        logFile: join(out, `server-${k}.log`),
        label: `server node ${k}`,
        control,
        timeoutS,
      }),
    );
  for (const { proc, started } of await Promise.all(starts)) {
    servers.processes.push(proc);
    roles.set(proc.pid, { leader: "server node", member: "server node" });
    if (started.error !== undefined) servers.error ??= started.error;
    else {
      servers.urls.push(started.url);
      servers.metricsUrls.push(`${started.url}/metrics`);
    }
  }
  servers.stop = async (graceMs) => {
    // The nodes drain first; Redis goes last, since draining nodes still publish and read through it.
    const exit = await stopAll(servers.processes, graceMs);
    await stopRedis();
    return exit;
  };
  return servers;
}

/** Stops every process at once; the exit is the first non-zero status (or 0), killed when any had to be. */
async function stopAll(processes, graceMs) {
  const exits = await Promise.all(processes.map((p) => p.stop("SIGTERM", graceMs)));
  return {
    exitCode: exits.find((e) => e.exitCode !== 0)?.exitCode ?? 0,
    killed: exits.some((e) => e.killed),
  };
}
