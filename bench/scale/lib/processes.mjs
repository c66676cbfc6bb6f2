/**
 * The processes a scale run starts: the server (a cluster primary, whose workers share its
 * process group) and the bench (a coordinator, whose client processes share its group). Each
 * is spawned in a group of its own, so that it and everything it forks can be found and
 * stopped by that group's id: on a normal end, on error, and on Ctrl-C.
 */
import { spawn } from "node:child_process";
import { createWriteStream, readdirSync, readFileSync } from "node:fs";

/** The process group id and parent pid of a process, from /proc/<pid>/stat; undefined when it is gone. */
export function procStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name start at field 3 (state).
    const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return {
      state: rest[0],
      ppid: Number(rest[1]),
      pgrp: Number(rest[2]),
      cpuTicks: Number(rest[11]) + Number(rest[12]),
    };
  } catch {
    return undefined;
  }
}

/** Every live process (zombies left out) whose process group is one of `groups`, with its stat. */
export function groupMembers(groups) {
  const wanted = new Set(groups);
  const members = [];
  if (wanted.size === 0) return members;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(name);
    if (stat !== undefined && wanted.has(stat.pgrp) && stat.state !== "Z") members.push({ pid: Number(name), ...stat });
  }
  return members;
}

/** Signals the process group led by `pid`; a group that is already gone is not an error. */
function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if (err.code !== "ESRCH") throw err;
  }
}

/** Signals one process; one that is already gone is not an error. */
function signalOne(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if (err.code !== "ESRCH") throw err;
  }
}

/**
 * One started process, the leader of its own group. Its output goes to `logFile` and, line by
 * line, to `onLine` (for ready lines and progress).
 */
export class GroupProcess {
  constructor({ label, command, args, logFile, onLine }) {
    this.label = label;
    this.log = createWriteStream(logFile);
    this.logFile = logFile;
    this.child = spawn(command, args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
    this.pid = this.child.pid;
    this.exitCode = undefined;
    this.exited = new Promise((resolve) =>
      this.child.once("close", (code, signal) => {
        this.exitCode = code ?? signal;
        this.log.end();
        resolve(this.exitCode);
      }),
    );
    this.child.once("error", (err) => this.log.write(`could not start ${command}: ${err.message}\n`));
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let pending = "";
      stream.on("data", (chunk) => {
        this.log.write(chunk);
        pending += chunk.toString("utf8");
        for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
          onLine?.(pending.slice(0, nl), stream === this.child.stdout ? "stdout" : "stderr");
          pending = pending.slice(nl + 1);
        }
      });
    }
  }

  get running() {
    return this.exitCode === undefined;
  }

  /** Sends `signal` to the leader only (a cluster primary drains its workers; the bench coordinator stops its processes). */
  signal(signal) {
    if (this.running) signalOne(this.pid, signal);
  }

  /**
   * Asks the leader to stop with `signal`, waits up to `graceMs` for it to exit, then kills
   * whatever of its group is left. Resolves with the leader's exit code (or signal) and
   * whether it had to be killed.
   */
  async stop(signal, graceMs) {
    let killed = false;
    if (this.running) {
      this.signal(signal);
      const timer = setTimeout(() => {
        killed = true;
        signalGroup(this.pid, "SIGKILL");
      }, graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    // Anything the leader forked and left behind in its group goes too.
    if (groupMembers([this.pid]).length > 0) {
      killed = true;
      signalGroup(this.pid, "SIGKILL");
    }
    return { exitCode: this.exitCode, killed };
  }

  /** Last resort (this process is exiting): SIGKILL to the whole group, synchronously. */
  kill() {
    signalGroup(this.pid, "SIGKILL");
  }
}
