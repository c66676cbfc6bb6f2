/**
 * The processes a peer run starts: each in its own process group (so a Hubcast primary's
 * workers and the bench's client workers go with it), its output in a log file, readiness
 * awaited from its own output, and every one stopped by id at the end, on error, or on Ctrl-C.
 */
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

/** How long a started process has to print its ready line. */
const READY_TIMEOUT_MS = 30_000;
/** How long a process has to exit after SIGTERM before its group gets SIGKILL. */
const STOP_GRACE_MS = 8_000;

/** A process that exited or failed to get ready; the message names it and its log. */
export class ProcessError extends Error {
  name = "ProcessError";
  code = "PEERS_PROCESS";
}

/** A free TCP port on 127.0.0.1 (for servers that cannot report the one they picked). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on `port` on loopback (bound and released at once). */
export function portIsFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * @typedef {object} Started
 * @property {string} label
 * @property {number} pid The process (and process group) id.
 * @property {string[]} lines Output lines up to and including the ready line.
 * @property {RegExpMatchArray} ready The ready line's match.
 * @property {string} logFile
 * @property {Promise<number | null>} exited Resolves with the exit code (null after a signal).
 */

/** Starts, tracks and stops the run's processes. */
export class Processes {
  /** @param {string} logDir Where each process's output goes, as `<label>.log`. */
  constructor(logDir) {
    this.logDir = logDir;
    /** @type {Map<number, { label: string, child: import("node:child_process").ChildProcess, exited: Promise<number | null> }>} */
    this.running = new Map();
  }

  /**
   * Starts `command args` in a new process group and resolves once a line of its output
   * matches `ready`. Rejects with a {@link ProcessError} (after stopping it) when it exits
   * first or stays silent for 30 s.
   * @param {{ label: string, command: string, args: string[], ready: RegExp, cwd?: string }} spec
   * @returns {Promise<Started>}
   */
  start({ label, command, args, ready, cwd }) {
    const logFile = join(this.logDir, `${label}.log`);
    const log = createWriteStream(logFile);
    const child = spawn(command, args, { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    this.running.set(child.pid, { label, child, exited });
    exited.then(() => {
      this.running.delete(child.pid);
      log.end();
    });
    const lines = [];
    return new Promise((resolve, reject) => {
      let pending = "";
      let done = false;
      const finish = (error, match) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (error === undefined) return resolve({ label, pid: child.pid, lines, ready: match, logFile, exited });
        this.stop(child.pid).finally(() => reject(new ProcessError(`${label}: ${error} (see ${logFile})`)));
      };
      const onData = (chunk) => {
        log.write(chunk);
        if (done) return;
        pending += chunk.toString("utf8");
        for (let nl = pending.indexOf("\n"); !done && nl >= 0; nl = pending.indexOf("\n")) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          lines.push(line);
          const match = ready.exec(line);
          if (match !== null) finish(undefined, match);
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.once("error", (err) => finish(`could not start ${command}: ${err.message}`));
      exited.then((code) => finish(`exited with ${code ?? "a signal"} before it was ready`));
      const timer = setTimeout(
        () => finish(`printed no ready line within ${READY_TIMEOUT_MS / 1000} s`),
        READY_TIMEOUT_MS,
      );
    });
  }

  /**
   * Runs `command args` to completion in a new process group, collecting its stdout; its
   * stderr goes to `<label>.log` (and to `echo` when given). Resolves with the exit code
   * and stdout. `interrupt()` sends the group SIGINT (the bench then reports what ran).
   * @param {{ label: string, command: string, args: string[], echo?: NodeJS.WritableStream }} spec
   */
  run({ label, command, args, echo }) {
    const logFile = join(this.logDir, `${label}.log`);
    const log = createWriteStream(logFile);
    const child = spawn(command, args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const chunks = [];
    child.stdout.on("data", (chunk) => chunks.push(chunk));
    child.stderr.on("data", (chunk) => {
      log.write(chunk);
      echo?.write(chunk);
    });
    const exited = new Promise((resolve) => child.once("close", (code) => resolve(code)));
    this.running.set(child.pid, { label, child, exited });
    const result = exited.then((code) => {
      this.running.delete(child.pid);
      log.end();
      return { code, stdout: Buffer.concat(chunks).toString("utf8"), logFile };
    });
    return { pid: child.pid, result, interrupt: () => signalGroup(child.pid, "SIGINT") };
  }

  /** Sends SIGTERM to the process group of `pid`, waits for the process to exit, and sends SIGKILL to the group after 8 s. */
  async stop(pid) {
    const entry = this.running.get(pid);
    if (entry === undefined) return;
    signalGroup(pid, "SIGTERM");
    const timer = setTimeout(() => signalGroup(pid, "SIGKILL"), STOP_GRACE_MS);
    await entry.exited;
    clearTimeout(timer);
    // A primary that exited may leave workers behind in its group: they go too.
    signalGroup(pid, "SIGKILL");
  }

  /** Stops every process still running except those in `keep`, newest first (bench, then servers, then Redis). */
  async stopAll(keep = []) {
    for (const pid of [...this.running.keys()].reverse()) if (!keep.includes(pid)) await this.stop(pid);
  }

  /** Last resort when this process is exiting: SIGKILL to every group still running, synchronously. */
  killAll() {
    for (const pid of this.running.keys()) signalGroup(pid, "SIGKILL");
  }
}

/** Signals the process group led by `pid`; a group that is already gone is not an error. */
function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if (err.code !== "ESRCH") throw err;
  }
}
