/**
 * What the peer run (`run.mjs`) and the knee sweep (`knee.mjs`) share around their systems:
 * where the built CLIs are, the checks before anything starts, the versions a report names,
 * the run's context (processes, work folder, Hubcast config) and Ctrl-C handling.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Processes } from "./processes.mjs";
import { HUBCAST_BENCH_CONFIG } from "./systems.mjs";

export const peersDir = join(dirname(fileURLToPath(import.meta.url)), "..");
export const repo = join(peersDir, "..", "..");
export const benchCli = join(repo, "packages/bench/dist/cli/main.js");
export const serverCli = join(repo, "packages/server/dist/cli/main.js");

/** Prints `<tool>: message` on stderr and exits with `code`. */
export function fail(tool, message, code = 1) {
  process.stderr.write(`${tool}: ${message}\n`);
  process.exit(code);
}

/**
 * Parses the command line against `options` (parseArgs's spec, `--help`/-h added): prints
 * `usage` and exits 0 on --help, names the flag and exits 2 on a bad one.
 */
export function parseFlags(tool, usage, options, args = process.argv.slice(2)) {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, strict: true }));
  } catch (err) {
    fail(tool, `${err.message}\n\n${usage}`, 2);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return values;
}

/** The keys `--only` names (undefined without it); exits 2 naming an unknown one and the known ones. */
export function onlyKeys(tool, text, systems) {
  const keys = text
    ?.split(",")
    .map((k) => k.trim())
    .filter((k) => k !== "");
  const unknown = keys?.find((k) => !systems.some((s) => s.key === k));
  if (unknown !== undefined)
    fail(tool, `--only: unknown system "${unknown}"; use ${systems.map((s) => s.key).join(", ")}`, 2);
  return keys;
}

/** A missing prerequisite of the selected systems, as a sentence with its fix; undefined when all are there. */
export function missingPrerequisite(systems) {
  const files = [
    [benchCli, "run `npm run build` at the repository root"],
    [serverCli, "run `npm run build` at the repository root"],
  ];
  if (systems.some((s) => s.peer === true))
    files.push([join(peersDir, "node_modules/socket.io/package.json"), "run `npm install` in bench/peers"]);
  for (const [file, fix] of files) if (!existsSync(file)) return `${relative(repo, file)} is missing: ${fix}`;
  const commands = [];
  if (systems.some((s) => s.redis)) commands.push(["redis-server", "redis-server"]);
  if (systems.some((s) => s.redisCluster === true)) commands.push(["redis-cli", "redis-tools"]);
  if (systems.some((s) => s.nats === true)) commands.push(["nats-server", "nats-server"]);
  for (const [command, pkg] of commands) {
    try {
      execFileSync(command, ["--version"], { stdio: "ignore" });
    } catch {
      return `${command} is not on PATH: install it (apt-get install ${pkg}), or pass --only with systems that need none`;
    }
  }
  return undefined;
}

/** The soft limit on open files of this process (inherited by what it starts), from /proc; undefined elsewhere. */
export function openFilesLimit() {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

const packageVersion = (dir) => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;

/** The commit Hubcast was built from, marked "+ local changes" when packages/ differs from it (read-only git). */
function hubcastCommit() {
  try {
    const head = execFileSync("git", ["-C", repo, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty =
      execFileSync("git", ["-C", repo, "status", "--porcelain", "--", "packages/server/src", "packages/protocol/src"], {
        encoding: "utf8",
      }).trim() !== "";
    return dirty ? `${head} + local changes` : head;
  } catch {
    return "commit unknown";
  }
}

/** Versions of everything that ran; a peer dependency not installed here is named so. */
export function versions() {
  const dep = (name) => {
    const dir = join(peersDir, "node_modules", name);
    return existsSync(join(dir, "package.json")) ? packageVersion(dir) : "not installed";
  };
  let redis = "not installed";
  try {
    redis = /v=(\S+)/.exec(execFileSync("redis-server", ["--version"], { encoding: "utf8" }))?.[1] ?? "?";
  } catch {
    // Named as not installed: a run of systems without Redis needs none.
  }
  return {
    hubcast: `${packageVersion(join(repo, "packages/server"))} (${hubcastCommit()})`,
    "socket.io": dep("socket.io"),
    "@socket.io/redis-adapter": dep("@socket.io/redis-adapter"),
    redis: dep("redis"),
    ws: dep("ws"),
    "redis-server": redis,
    node: process.version,
  };
}

/**
 * The run's context: a work folder for logs and the Hubcast config, the tracked processes,
 * and the engine servers' addresses once started (see backends.mjs).
 */
export function createContext(options, tool) {
  const workDir = mkdtempSync(join(tmpdir(), `hubcast-${tool}-`));
  const hubcastConfig = join(workDir, "hubcast-bench.json");
  writeFileSync(hubcastConfig, JSON.stringify(HUBCAST_BENCH_CONFIG));
  return {
    tool,
    options,
    processes: new Processes(workDir),
    repo,
    peersDir,
    hubcastConfig,
    workDir,
    runId: Date.now().toString(36),
    redisUrl: undefined,
    redisPid: undefined,
    natsUrl: undefined,
    natsPid: undefined,
    redisClusterUrls: undefined,
    redisClusterPids: undefined,
    interrupted: false,
    interruptBench: undefined,
  };
}

/**
 * Ctrl-C (or SIGTERM) stops the current bench, which still reports what it measured, and
 * marks the run interrupted; a second one kills every process at once. Every process left
 * is killed when this one exits, whatever the reason.
 */
export function handleSignals(ctx) {
  const onSignal = (signal) => {
    if (ctx.interrupted) {
      ctx.processes.killAll();
      process.exit(130);
    }
    ctx.interrupted = true;
    process.stderr.write(
      `\n${ctx.tool}: ${signal}: stopping the current run and every process started (again to kill at once)\n`,
    );
    ctx.interruptBench?.();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", () => ctx.processes.killAll());
}

/**
 * Runs one `hubcast bench <scenario> --json` against a deployment and resolves with its parsed
 * result. `args` are the scenario's own flags; the system adds its protocol, transport and
 * bench arguments.
 */
export async function runHubcastBench(ctx, { label, scenario, system, urls, pids, connections, args }) {
  const argv = [
    benchCli,
    scenario,
    "--url",
    urls.join(","),
    "--protocol",
    system.protocol,
    "--server-pid",
    pids.join(","),
    "--connections",
    String(connections),
    "--json",
    ...args,
  ];
  if (system.transport !== undefined) argv.push("--transport", system.transport);
  if (system.benchArgs !== undefined) argv.push(...system.benchArgs);
  const running = ctx.processes.run({
    label,
    command: process.execPath,
    args: argv,
    echo: ctx.options.verbose ? process.stderr : undefined,
  });
  ctx.interruptBench = running.interrupt;
  const { code, stdout, logFile } = await running.result;
  ctx.interruptBench = undefined;
  // An interrupted bench still prints what it measured, when it got that far.
  if (stdout.trim() !== "") return JSON.parse(stdout);
  if (ctx.interrupted) throw new Error("interrupted");
  const tail = readFileSync(logFile, "utf8").trim().split("\n").slice(-2).join(" / ");
  throw new Error(`hubcast bench ${scenario} exited ${code}: ${tail}`);
}
