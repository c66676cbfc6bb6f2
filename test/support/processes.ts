import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { withTimeout } from "./raw-client.js";

/** The built CLI entry point (`npm run build` makes it). */
export const CLI = fileURLToPath(new URL("../../packages/server/dist/cli/main.js", import.meta.url));

/** Runs `hubcast ...args` to completion and returns its exit code and output. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 10_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout, stderr })),
  );
  return withTimeout(done, timeoutMs, `hubcast ${args.join(" ")}`).catch((err: unknown) => {
    child.kill("SIGKILL");
    throw err;
  });
}

/** A `hubcast start` process, started and awaited until it logs that it listens. */
export class ServerProcess {
  private exited: Promise<number | null>;
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    /** Every log line (parsed JSON) the server has printed so far; grows as it runs. */
    readonly logs: Record<string, unknown>[],
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.on("exit", (code) => resolve(code));
    });
  }

  get wsUrl(): string {
    return `${this.url.replace(/^http/, "ws")}/ws`;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  static async start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
    const child = spawn(process.execPath, [CLI, "start", ...args], {
      env: { ...process.env, HUBCAST_LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const logs: Record<string, unknown>[] = [];
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    let buffered = "";
    const listening = new Promise<string>((resolve, reject) => {
      child.stdout?.on("data", (d: Buffer) => {
        buffered += d.toString();
        for (let cut = buffered.indexOf("\n"); cut >= 0; cut = buffered.indexOf("\n")) {
          const line = buffered.slice(0, cut);
          buffered = buffered.slice(cut + 1);
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry["msg"] === "hubcast listening") resolve(entry["url"] as string);
        }
      });
      child.on("exit", (code) => reject(new Error(`hubcast start exited with ${code}: ${stderr}`)));
    });
    try {
      const url = await withTimeout(listening, 10_000, "hubcast start to listen");
      return new ServerProcess(child, url, logs);
    } catch (err) {
      child.kill("SIGKILL");
      throw err;
    }
  }

  /** Sends `signal` and waits for the exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return withTimeout(this.exited, 10_000, "hubcast to exit");
  }
}
