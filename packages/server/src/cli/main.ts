#!/usr/bin/env node
import cluster from "node:cluster";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { RedisUnavailableError } from "@hubcast/emitter";
import { WORKER_ENV } from "../cluster/messages.js";
import { NatsUnavailableError } from "../engine/nats.js";
import { runPrimary, workerCount } from "../cluster/primary.js";
import { ClusterWorker } from "../cluster/worker.js";
import { createNode } from "../node.js";
import type { HubcastNode } from "../node.js";
import { resolveNodeOptions } from "../options.js";
import type { ResolvedNodeOptions } from "../options.js";
import { closest } from "@hubcast/protocol/suggest";
import { OptionError } from "../validation.js";
import { VERSION } from "../version.js";
import { collectOptions, flagsErrorMessage, optionsHelp, startFlags, UsageError } from "./settings.js";
import { logDestination } from "./log-destination.js";
import { guardProcess } from "./process-guards.js";
import { NODES_HELP, nodesCommand } from "./nodes.js";
import { TOKEN_HELP, tokenCommand } from "./token.js";

const MAIN_HELP = `hubcast ${VERSION}: a self-hosted real-time messaging server

Usage: hubcast <command> [options]

Commands:
  start       run a gateway node (WebSocket endpoint, demo page, health checks)
  nodes       list the live nodes of a cluster on Redis or NATS, read from the engine
  token       print a signed HS256 connection or channel token (JWT)
  bench       load-test a deployment: connections, fan-out latency, server cost
  version     print the version
  help        show help for a command: hubcast help start

Run 'hubcast <command> --help' for a command's options.`;

const START_HELP = () => `Usage: hubcast start [options]

Runs a Hubcast node: on the embedded memory engine by default, or on Redis (the
redis engine) so that many nodes act as one. Options come from flags, then
environment variables, then the JSON config file (--config), then the defaults.
Namespaces ("namespaces": {"chat": {...}}) and default channel options ("channel": {...})
are set in the config file; see docs/configuration.md.

Options (flag, environment variable, default, meaning):
${optionsHelp()}

With --demo (the default) the namespace "demo" exists unless the config defines it:
history 100 for 1 h, presence, join/leave, client publish, anonymous subscribe.

Examples:
  hubcast start
  hubcast start --port 9000 --host 0.0.0.0 --no-demo
  HUBCAST_LOG_LEVEL=debug hubcast start --config hubcast.json
  hubcast start --engine redis --redis-url redis://10.0.0.2:6379 --host 0.0.0.0
  hubcast start --engine redis --redis-cluster redis://10.0.0.2:7000,redis://10.0.0.3:7000
  hubcast start --engine nats --nats-url nats://10.0.0.2:4222,nats://10.0.0.3:4222 --nats-replicas 3
  hubcast start --workers auto --balancing least-connections`;

const COMMANDS = ["start", "nodes", "token", "bench", "version", "help"];

function unknownCommand(command: string): string {
  const guess = closest(command, COMMANDS);
  return guess === undefined
    ? `unknown command "${command}"`
    : `unknown command "${command}"; did you mean "${guess}"?`;
}

function fail(message: string, helpCommand: string): never {
  process.stderr.write(`hubcast: ${message}\nRun '${helpCommand}' for usage.\n`);
  process.exit(2);
}

async function start(args: string[]): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options: startFlags(), strict: true, allowPositionals: false }));
  } catch (err) {
    fail(flagsErrorMessage(err, startFlags()), "hubcast start --help");
  }
  if (values["help"] === true) {
    process.stdout.write(`${START_HELP()}\n`);
    return;
  }
  let node: HubcastNode;
  let worker: ClusterWorker | undefined;
  try {
    const options = collectOptions(values, process.env);
    const resolved = resolveNodeOptions(options);
    if (cluster.isPrimary && workerCount(resolved.workers) > 1) return await startCluster(resolved);
    if (cluster.isWorker)
      worker = new ClusterWorker(resolved, {
        slot: Number(process.env[WORKER_ENV.slot]),
        clusterUrl: process.env[WORKER_ENV.clusterUrl] ?? "",
      });
    const services = worker?.services() ?? { logger: pino({ level: resolved.logLevel }, logDestination(resolved)) };
    node = await createNode(worker?.nodeOptions(options) ?? options, services);
  } catch (err) {
    if (err instanceof OptionError || err instanceof UsageError) fail(err.message, "hubcast start --help");
    if (err instanceof RedisUnavailableError) {
      process.stderr.write(`hubcast: ${err.message}\nStart Redis, or point --redis-url (or --redis-cluster) at it.\n`);
      process.exit(1);
    }
    if (err instanceof NatsUnavailableError) {
      process.stderr.write(`hubcast: ${err.message}; start nats-server -js, or point --nats-url at it\n`);
      process.exit(1);
    }
    throw err;
  }
  const running = node;
  guardProcess({ logger: running.logger, countUnexpected: () => running.metrics.unexpectedError("process") });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      node.logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    node.logger.info({ signal }, "shutting down");
    const stoppedAt = (exitCode: number): never => {
      // The last line, so whoever reads the log knows the process ended on purpose, and how.
      node.logger.info({ signal, exitCode, uptimeS: Math.round(process.uptime()) }, "stopped");
      process.exit(exitCode);
    };
    node.drain().then(
      () => stoppedAt(0),
      (err: unknown) => {
        node.logger.error({ err }, "shutdown failed");
        stoppedAt(1);
      },
    );
  };
  // Listen for signals before starting: one that arrives while the node starts (just after it
  // logged that it listens, say) is acted on once the start is over, never left to kill it.
  let started = false;
  let pendingSignal: string | undefined;
  const onSignal = (signal: string): void => {
    if (started) stop(signal);
    else if (pendingSignal === undefined) pendingSignal = signal;
    else process.exit(1);
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  try {
    await node.start(worker?.startOptions());
  } catch (err) {
    listenFailed(err, node.options);
  }
  started = true;
  if (pendingSignal !== undefined) stop(pendingSignal);
  // A signal to the process group reaches a worker and its primary (which asks it to drain): drain once.
  worker?.attach(node, () => {
    if (!stopping) stop("drain request");
  });
}

/** Exits with a message naming the fix when a node or a cluster primary cannot listen; rethrows anything else. */
function listenFailed(err: unknown, options: ResolvedNodeOptions): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE")
    fail(`port ${options.port} on ${options.host} is in use; pick another with --port`, "hubcast start --help");
  if (code === "EADDRNOTAVAIL")
    fail(`cannot listen on ${options.host}: no such local address; check --host`, "hubcast start --help");
  throw err;
}

/** `hubcast start --workers N`: this process becomes the cluster primary and exits when the cluster stops. */
async function startCluster(options: ResolvedNodeOptions): Promise<void> {
  const logger = pino({ level: options.logLevel }, logDestination(options));
  guardProcess({ logger, countUnexpected: () => {} });
  const report = (message: string): void => {
    process.stderr.write(`hubcast: ${message}\n`);
  };
  const status = await runPrimary({ options, count: workerCount(options.workers), logger, report }).catch(
    (err: unknown) => listenFailed(err, options),
  );
  logger.info({ exitCode: status, uptimeS: Math.round(process.uptime()) }, "stopped");
  process.exit(status);
}

/**
 * `hubcast bench`: the load tool is the optional @hubcast/bench package, loaded only when
 * asked for, so the server neither depends on it nor type-checks against it.
 */
async function bench(args: string[]): Promise<void> {
  const specifier = "@hubcast/bench";
  let loaded: unknown;
  try {
    loaded = await import(specifier);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ERR_MODULE_NOT_FOUND") throw err;
    process.stderr.write(
      `hubcast: 'hubcast bench' needs the @hubcast/bench package, which is not installed or not built (${(err as Error).message}).\n` +
        "Install it beside @hubcast/server (npm install @hubcast/bench), or in the Hubcast repository run: npm install && npm run build\n",
    );
    process.exitCode = 1;
    return;
  }
  const command = (loaded as { benchCommand?: unknown }).benchCommand;
  if (typeof command !== "function")
    throw new Error("@hubcast/bench does not export benchCommand; install the version that matches @hubcast/server");
  process.exitCode = await (command as (args: string[]) => Promise<number>)(args);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "start":
      return start(rest);
    case "nodes":
      process.exitCode = await nodesCommand(rest, process.env);
      return;
    case "token":
      process.exitCode = await tokenCommand(rest, process.env);
      return;
    case "bench":
      return bench(rest);
    case "version":
    case "--version":
    case "-v":
      process.stdout.write(`${VERSION}\n`);
      return;
    case undefined:
      // A usage error like any other: scripts that forgot the command should not pass.
      process.stderr.write(`${MAIN_HELP}\n`);
      process.exitCode = 2;
      return;
    case "help":
    case "--help":
    case "-h":
      if (rest[0] === "start") process.stdout.write(`${START_HELP()}\n`);
      else if (rest[0] === "nodes") process.stdout.write(`${NODES_HELP}\n`);
      else if (rest[0] === "token") process.stdout.write(`${TOKEN_HELP}\n`);
      else if (rest[0] === "bench") return bench(["--help"]);
      else process.stdout.write(`${MAIN_HELP}\n`);
      return;
    default:
      fail(unknownCommand(command), "hubcast --help");
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`hubcast: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
