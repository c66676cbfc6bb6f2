import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fencedBlocks } from "./doc-examples.js";

/** What the HTML comment on the line before a fenced block says it is. */
export type BlockKind = "run" | "output" | "other";

/** A fenced code block of a doc with its marker. */
export interface DocBlock {
  kind: BlockKind;
  /** The snippet's id for `run` and `output`; the product's name for `other`. */
  id: string;
  /** The fence's language tag (`js`, `json`, `text`, …). */
  lang: string;
  code: string;
  /** 1-based line of the opening fence, for messages. */
  line: number;
}

/** Other products' code a guide shows for comparison: Socket.IO, Centrifugo, and the Pusher world's Laravel, Soketi and Reverb. */
const MARKER = /^(run|output):\s*(\S+)$|^(socket\.io|centrifugo|laravel|soketi|reverb)$/;

/**
 * Every fenced block of the Markdown file at `url`, with the marker on the closest non-blank
 * line above it. Throws, naming the line, for a block without a marker: a doc checked this way
 * says of every block whether it is run, expected output, or another product's code.
 */
export function docBlocks(url: URL): DocBlock[] {
  return fencedBlocks(readFileSync(url, "utf8")).map((block) => {
    const marker = MARKER.exec(block.marker ?? "");
    if (marker === null) {
      throw new Error(
        `${fileURLToPath(url)}:${block.line}: a code block without a <!-- run|output|socket.io|centrifugo|laravel|soketi|reverb --> marker`,
      );
    }
    const [, kind, id, other] = marker;
    return {
      kind: other === undefined ? (kind as BlockKind) : "other",
      id: other ?? id ?? "",
      lang: block.lang,
      code: `${block.text}\n`,
      line: block.line,
    };
  });
}

/** Where a snippet's `localhost` addresses point when it runs. */
export interface SnippetTargets {
  /** Replaces `ws://localhost:8080/ws`. */
  wsUrl?: string;
  /** Replaces `http://localhost:8080`. */
  httpUrl?: string;
  /** Replaces `redis://localhost:6379`. */
  redisUrl?: string;
}

/** Points a snippet (code or config) at the test's servers; see {@link SnippetTargets}. */
export function retarget(code: string, targets: SnippetTargets): string {
  let out = code.replaceAll("port: 8080", "port: 0");
  if (targets.wsUrl !== undefined) out = out.replaceAll("ws://localhost:8080/ws", targets.wsUrl);
  if (targets.httpUrl !== undefined) out = out.replaceAll("http://localhost:8080", targets.httpUrl);
  if (targets.redisUrl !== undefined) out = out.replaceAll("redis://localhost:6379", targets.redisUrl);
  return out;
}

// Browsers and Node 22+ have a global WebSocket; Node 20 gets the `ws` package's in its place.
const BROWSER_PRELUDE = 'import { WebSocket as __WebSocket } from "ws";\nglobalThis.WebSocket ??= __WebSocket;\n';

/**
 * A snippet running as an ES module in its own Node process, from a file in `test/` so that
 * `@hubcast/*`, `ws` and `jose` resolve from the repository as they would for a user.
 */
export class SnippetProcess {
  private stdoutText = "";
  private stderrText = "";
  private readonly waiters = new Set<() => void>();
  private readonly child: ChildProcess;
  private readonly file: string;
  /** Resolves with the exit code (or signal) when the process ends. */
  readonly exited: Promise<number | string>;

  constructor(code: string, env: Record<string, string>) {
    // A snippet that uses the SDK without a `websocket` option is written for a browser.
    const browser = code.includes("@hubcast/client") && !code.includes("websocket:");
    this.file = fileURLToPath(new URL(`../.guide-snippet-${randomUUID()}.mjs`, import.meta.url));
    writeFileSync(this.file, browser ? BROWSER_PRELUDE + code : code);
    this.child = spawn(process.execPath, [this.file], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout?.on("data", (chunk: Buffer) => this.append("out", chunk));
    this.child.stderr?.on("data", (chunk: Buffer) => this.append("err", chunk));
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
    });
  }

  get stdout(): string {
    return this.stdoutText;
  }

  /** Resolves once stdout contains `text`; rejects after `timeoutMs`, or if the process ends first. */
  async waitFor(text: string, timeoutMs = 10_000): Promise<void> {
    let ended = false;
    void this.exited.then(() => {
      ended = true;
      for (const wake of this.waiters) wake();
    });
    const deadline = Date.now() + timeoutMs;
    while (!this.stdoutText.includes(text)) {
      if (ended) throw new Error(`the snippet exited before printing "${text}"; ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for "${text}"; ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        this.waiters.add(done);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  }

  /** Waits for the process to exit on its own and returns its stdout; throws on a failure or after `timeoutMs`. */
  async finished(timeoutMs = 10_000): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the snippet did not exit within ${timeoutMs} ms; ${this.describe()}`)),
        timeoutMs,
      );
    });
    try {
      const code = await Promise.race([this.exited, timeout]);
      if (code !== 0) throw new Error(`the snippet exited with ${code}; ${this.describe()}`);
      return this.stdoutText;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the process (if it still runs) and removes its file. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    await this.exited;
    rmSync(this.file, { force: true });
  }

  private append(stream: "out" | "err", chunk: Buffer): void {
    if (stream === "out") this.stdoutText += chunk.toString();
    else this.stderrText += chunk.toString();
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  private describe(): string {
    return `stdout: ${JSON.stringify(this.stdoutText)}, stderr: ${JSON.stringify(this.stderrText.slice(-2000))}`;
  }
}
