import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { withTimeout } from "./frame-inbox.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The environment a user's shell would give npm: this one without what `npm run` adds
 * (`npm_*` settings, which outrank a project's .npmrc) and without the repository's
 * node_modules/.bin on PATH, so `npx hubcast` can only find the copy the project installed.
 */
export function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key)) env[key] = value;
  }
  const path = (process.env["PATH"] ?? "").split(delimiter).filter((dir) => !dir.includes("node_modules"));
  env["PATH"] = [dirname(process.execPath), ...path].join(delimiter);
  return env;
}

/** What a finished command printed, and how it ended. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command args` in `cwd` with the user's environment to completion; kills it (and
 * rejects) after `timeoutMs`. Never rejects on a non-zero exit: callers assert on the result.
 */
export function run(command: string, args: string[], cwd: string, timeoutMs = 60_000): Promise<CommandResult> {
  const child = spawn(command, args, { cwd, env: userEnv(), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CommandResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  return withTimeout(done, timeoutMs, `${command} ${args.join(" ")}`).catch((err: unknown) => {
    child.kill("SIGKILL");
    throw err;
  });
}

/**
 * A command left running in its own process group (npx runs a command through a shell, so the
 * server is a grandchild): `stop()` signals the whole group. `lines` holds its stdout so far.
 */
export class BackgroundCommand {
  readonly lines: string[] = [];
  private stderr = "";
  private readonly exited: Promise<number | null>;
  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
    let buffered = "";
    child.stdout?.on("data", (d: Buffer) => {
      buffered += d.toString();
      for (let cut = buffered.indexOf("\n"); cut >= 0; cut = buffered.indexOf("\n")) {
        this.lines.push(buffered.slice(0, cut));
        buffered = buffered.slice(cut + 1);
      }
    });
    child.stderr?.on("data", (d: Buffer) => (this.stderr += d.toString()));
  }

  /** Starts `command args` in `cwd` with the user's environment. */
  static start(command: string, args: string[], cwd: string): BackgroundCommand {
    return new BackgroundCommand(
      spawn(command, args, { cwd, env: userEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true }),
    );
  }

  /** Resolves with the first stdout line `match` accepts; rejects if the command exits first. */
  async waitForLine<T>(match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const found = new Promise<T>((resolve, reject) => {
      const check = (): boolean => {
        for (const line of this.lines) {
          const value = match(line);
          if (value !== undefined) {
            resolve(value);
            return true;
          }
        }
        return false;
      };
      if (check()) return;
      const onData = (): void => {
        if (check()) this.child.stdout?.off("data", onData);
      };
      this.child.stdout?.on("data", onData);
      void this.exited.then((code) =>
        reject(new Error(`exited with ${code} before ${what}:\n${this.lines.join("\n")}\n${this.stderr}`)),
      );
    });
    return withTimeout(found, timeoutMs, what);
  }

  /** Sends SIGTERM to the process group, SIGKILL if it has not exited within 10 s. */
  async stop(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const signal = (name: NodeJS.Signals): void => {
      try {
        process.kill(-pid, name);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err; // already gone
      }
    };
    signal("SIGTERM");
    await withTimeout(this.exited, 10_000, "the command to exit on SIGTERM").catch(() => {
      signal("SIGKILL");
      return this.exited;
    });
  }
}

/**
 * A Verdaccio registry in a process of its own on a free loopback port, storing in `dir`. It
 * has no uplink: it serves only what is published to it, and anyone may read; publishing
 * needs a user (`addUser`).
 */
export class LocalRegistry {
  private constructor(
    private readonly process: BackgroundCommand,
    /** The registry's base URL, with a trailing slash. */
    readonly url: string,
  ) {}

  static async start(dir: string): Promise<LocalRegistry> {
    const config = join(dir, "config.yaml");
    writeFileSync(
      config,
      [
        `storage: ${JSON.stringify(join(dir, "storage"))}`,
        "auth:",
        `  htpasswd: { file: ${JSON.stringify(join(dir, "htpasswd"))} }`,
        "uplinks: {}",
        "packages:",
        "  '**': { access: $all, publish: $authenticated }",
        "web: { enable: false }",
        "log: { type: stderr, format: json, level: warn }",
        "",
      ].join("\n"),
    );
    const main = fileURLToPath(new URL("./verdaccio-main.mjs", import.meta.url));
    // Started from the repository, where the verdaccio dev dependency resolves.
    const registry = BackgroundCommand.start(process.execPath, [main, config], repo);
    try {
      const port = await registry.waitForLine(
        (line) => (line.startsWith("{") ? (JSON.parse(line) as { port?: number }).port : undefined),
        30_000,
        "Verdaccio to listen",
      );
      return new LocalRegistry(registry, `http://127.0.0.1:${port}/`);
    } catch (err) {
      await registry.stop();
      throw err;
    }
  }

  /** Creates a user (what `npm adduser` does) and returns its token for an .npmrc. */
  async addUser(name: string, password: string): Promise<string> {
    const response = await fetch(new URL(`-/user/org.couchdb.user:${encodeURIComponent(name)}`, this.url), {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, password }),
    });
    const body = (await response.json()) as { token?: string };
    if (!response.ok || body.token === undefined) {
      throw new Error(`adding a registry user failed: ${response.status} ${JSON.stringify(body)}`);
    }
    return body.token;
  }

  /** The .npmrc lines that send the @hubcast scope (only) to this registry, and authenticate to it. */
  npmrc(token?: string): string {
    const lines = [`@hubcast:registry=${this.url}`];
    if (token !== undefined) lines.push(`${this.url.replace(/^https?:/, "")}:_authToken=${token}`);
    return `${lines.join("\n")}\n`;
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
