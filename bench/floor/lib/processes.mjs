/**
 * The run's child processes and how the runner talks to them. Each child is forked in its
 * own process group with an IPC channel; the runner sends `{ id, cmd, ...args }` and the
 * child answers `{ id, ok, result | error }`. A child exits when its IPC channel closes (the
 * runner died), and the runner kills every child's group by id on exit, error and Ctrl-C.
 */
import { fork } from "node:child_process";

/** How long a child has to exit after being asked before its group gets SIGKILL. */
const STOP_GRACE_MS = 5_000;

/**
 * Child side: answers the runner's requests with `handlers[cmd](message)` (sync or async),
 * and exits when the runner goes away.
 * @param {Record<string, (message: any) => unknown>} handlers
 */
export function serve(handlers) {
  process.on("message", async (message) => {
    const { id, cmd } = message;
    try {
      if (cmd === "exit") {
        process.send({ id, ok: true, result: null }, () => process.exit(0));
        return;
      }
      const handler = handlers[cmd];
      if (handler === undefined) throw new Error(`unknown command ${cmd}`);
      const result = await handler(message);
      process.send({ id, ok: true, result });
    } catch (err) {
      process.send({ id, ok: false, error: err?.message ?? String(err) });
    }
  });
  process.on("disconnect", () => process.exit(0));
}

/** Runner side: the children started so far, by pid. */
export class Children {
  constructor() {
    /** @type {Map<number, Child>} */
    this.running = new Map();
  }

  /**
   * Forks `script args` with `execArgv`, in a new process group; its stderr goes to ours,
   * each line prefixed with `label: `.
   * @returns {Child}
   */
  start(label, script, args = [], execArgv = []) {
    const child = new Child(label, script, args, execArgv);
    this.running.set(child.pid, child);
    child.exited.then(() => this.running.delete(child.pid));
    return child;
  }

  /** Asks every running child to exit, newest first; SIGKILL to the group of any that does not within 5 s. */
  async stopAll() {
    for (const child of [...this.running.values()].reverse()) await child.stop();
  }

  /** Last resort (process exiting, second Ctrl-C): SIGKILL to every child's group, synchronously. */
  killAll() {
    for (const pid of this.running.keys()) signalGroup(pid, "SIGKILL");
  }
}

class Child {
  constructor(label, script, args, execArgv) {
    this.label = label;
    this.process = fork(script, args, { detached: true, execArgv, stdio: ["ignore", "ignore", "pipe", "ipc"] });
    this.pid = this.process.pid;
    this.nextId = 1;
    /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void, cmd: string }>} */
    this.pending = new Map();
    this.exitCode = undefined;
    this.exited = new Promise((resolve) =>
      this.process.once("exit", (code, signal) => {
        this.exitCode = code ?? signal;
        for (const { reject, cmd } of this.pending.values())
          reject(new Error(`${label} (pid ${this.pid}) exited with ${code ?? signal} during ${cmd}`));
        this.pending.clear();
        resolve(this.exitCode);
      }),
    );
    this.process.on("message", ({ id, ok, result, error }) => {
      const waiting = this.pending.get(id);
      if (waiting === undefined) return;
      this.pending.delete(id);
      if (ok) waiting.resolve(result);
      else waiting.reject(new Error(`${label}: ${waiting.cmd}: ${error}`));
    });
    this.process.on("error", () => {});
    let partial = "";
    this.process.stderr.on("data", (chunk) => {
      partial += chunk.toString("utf8");
      for (let nl = partial.indexOf("\n"); nl >= 0; nl = partial.indexOf("\n")) {
        process.stderr.write(`  ${label}: ${partial.slice(0, nl)}\n`);
        partial = partial.slice(nl + 1);
      }
    });
  }

  /** Sends a command and resolves with the child's answer; rejects when it fails or the child exits. */
  request(cmd, args = {}) {
    if (this.exitCode !== undefined)
      return Promise.reject(new Error(`${this.label} (pid ${this.pid}) has exited (${this.exitCode}); cannot ${cmd}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, cmd });
      this.process.send({ id, cmd, ...args });
    });
  }

  /** Asks the child to exit; SIGKILL to its group when it has not within 5 s (or cannot be asked). */
  async stop() {
    if (this.exitCode !== undefined) return;
    const timer = setTimeout(() => signalGroup(this.pid, "SIGKILL"), STOP_GRACE_MS);
    this.request("exit").catch(() => signalGroup(this.pid, "SIGKILL"));
    await this.exited;
    clearTimeout(timer);
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
