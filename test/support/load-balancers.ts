import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { basename, delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { eventually } from "./eventually.js";
import { withTimeout } from "./raw-client.js";
import { freePort } from "./redis.js";

/** The repository's deploy/ folder, where the shipped nginx and HAProxy configs live. */
export const DEPLOY_DIR = fileURLToPath(new URL("../../deploy/", import.meta.url));

/** The absolute path of `name` on PATH or in the sbin folders, or undefined when not installed. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  return dirs
    .filter((d) => d !== "")
    .map((d) => join(d, name))
    .find((p) => existsSync(p));
}

export const NGINX = findBinary("nginx");
export const HAPROXY = findBinary("haproxy");

/** Where a shipped config listens, and the node addresses (`127.0.0.1:port`) it should balance over. */
export interface RenderOptions {
  listen: { find: RegExp; replace: string };
  upstreams: string[];
}

/**
 * The shipped config `text` with its example addresses replaced: its one listen line, and
 * every `hubcast-<n>:8080` by `upstreams[n - 1]`. Throws when the file does not have exactly
 * one listen line and one address per upstream, so a changed file fails loudly instead of
 * testing something else.
 */
export function renderConfig(text: string, options: RenderOptions): string {
  const listens = text.match(new RegExp(options.listen.find.source, "gm")) ?? [];
  if (listens.length !== 1)
    throw new Error(`expected one line matching ${options.listen.find}, found ${listens.length}`);
  const seen = new Set<number>();
  const rendered = text
    .replace(new RegExp(options.listen.find.source, "m"), options.listen.replace)
    .replace(/\bhubcast-(\d+):8080\b/g, (_, n: string) => {
      const upstream = options.upstreams[Number(n) - 1];
      if (upstream === undefined) throw new Error(`hubcast-${n}:8080 has no upstream to stand for it`);
      seen.add(Number(n));
      return upstream;
    });
  if (seen.size !== options.upstreams.length)
    throw new Error(`expected addresses hubcast-1..${options.upstreams.length}:8080, found ${seen.size}`);
  return rendered;
}

/** A load balancer process of the test's own on a free loopback port. */
export interface LoadBalancer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `ws://127.0.0.1:<port>/ws` */
  readonly wsUrl: string;
  /** Stops the process (fast, dropping its connections), waits for it and removes its files. */
  stop(): Promise<void>;
}

/** Starts the balancer binary, collects its stderr, and stops it on request. */
class BalancerProcess implements LoadBalancer {
  private stderr = "";
  private readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(
    binary: string,
    args: string[],
    readonly url: string,
    protected readonly dir: string,
  ) {
    this.child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.child.stderr?.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  get wsUrl(): string {
    return `${this.url.replace(/^http/, "ws")}/ws`;
  }

  /** Resolves once `GET /healthz` through the balancer answers 200; rejects if the process exits first. */
  async ready(timeoutMs = 10_000): Promise<void> {
    const exitedEarly = this.exited.then((code) => {
      throw new Error(`${basename(this.child.spawnfile)} exited with ${code}: ${this.stderr.slice(-2_000)}`);
    });
    const answers = eventually(
      async () => (await fetch(`${this.url}/healthz`).catch(() => undefined))?.status === 200,
      timeoutMs,
      `${this.url}/healthz to answer 200`,
    );
    try {
      await Promise.race([answers, exitedEarly]);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    await withTimeout(this.exited, 5_000, `${basename(this.child.spawnfile)} to exit`).catch((err: unknown) => {
      this.child.kill("SIGKILL");
      throw err;
    });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A private nginx running a shipped deploy/nginx/*.conf (an http-context snippet) inside a
 * minimal main config: its pid file, logs and temp paths all in a temp dir, never under
 * /var/lib/nginx. Workers run as the current user.
 */
export class NginxProcess extends BalancerProcess {
  static async start(config: string, upstreams: string[]): Promise<NginxProcess> {
    if (NGINX === undefined) throw new Error("nginx is not installed (apt-get install nginx)");
    const dir = mkdtempSync(join(tmpdir(), "hubcast-nginx-"));
    const port = await freePort();
    const snippet = join(dir, basename(config));
    const text = readFileSync(join(DEPLOY_DIR, "nginx", config), "utf8");
    writeFileSync(
      snippet,
      renderConfig(text, { listen: { find: /^(\s*)listen 8080;/, replace: `$1listen 127.0.0.1:${port};` }, upstreams }),
    );
    const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(
      (kind) => `  ${kind}_temp_path ${join(dir, kind)};`,
    );
    // As root, nginx would switch its workers to `nobody`, who cannot enter the temp dir.
    const user = process.getuid?.() === 0 ? `user ${userInfo().username};\n` : "";
    const main = `${user}worker_processes 2;\nevents { worker_connections 4096; }\nhttp {\n${temp.join("\n")}\n  access_log off;\n  include ${snippet};\n}\n`;
    writeFileSync(join(dir, "nginx.conf"), main);
    const args = [
      "-e",
      "stderr",
      "-p",
      dir,
      "-c",
      join(dir, "nginx.conf"),
      "-g",
      `daemon off; pid ${join(dir, "nginx.pid")}; error_log stderr;`,
    ];
    const nginx = new NginxProcess(NGINX, args, `http://127.0.0.1:${port}`, dir);
    await nginx.ready();
    return nginx;
  }
}

/** One row of HAProxy's `show stat`: a frontend, a backend or a server, by CSV column name. */
export type HaproxyStat = Record<string, string>;

/**
 * A private HAProxy running a shipped deploy/haproxy/*.cfg after a minimal `global` section
 * of the test's own (the shipped files leave `global` to the distribution), with its stats
 * socket in a temp dir.
 */
export class HaproxyProcess extends BalancerProcess {
  /** `tweak` edits the shipped text before it is rendered (a test that needs faster health checks, say). */
  static async start(
    config: string,
    upstreams: string[],
    tweak: (text: string) => string = (text) => text,
  ): Promise<HaproxyProcess> {
    if (HAPROXY === undefined) throw new Error("haproxy is not installed (apt-get install haproxy)");
    const dir = mkdtempSync(join(tmpdir(), "hubcast-haproxy-"));
    const port = await freePort();
    const rendered = join(dir, basename(config));
    const text = tweak(readFileSync(join(DEPLOY_DIR, "haproxy", config), "utf8"));
    writeFileSync(
      rendered,
      renderConfig(text, { listen: { find: /^(\s*)bind :8080$/, replace: `$1bind 127.0.0.1:${port}` }, upstreams }),
    );
    const global = join(dir, "global.cfg");
    // `notice`: server state changes and alerts reach stderr, request logs do not.
    writeFileSync(
      global,
      `global\n    maxconn 4096\n    log stderr format raw local0 notice\n    stats socket ${join(dir, "admin.sock")} mode 600 level admin\n`,
    );
    const haproxy = new HaproxyProcess(HAPROXY, ["-db", "-f", global, "-f", rendered], `http://127.0.0.1:${port}`, dir);
    await haproxy.ready();
    return haproxy;
  }

  /** HAProxy's own view of its proxies and servers (`show stat` on the stats socket). */
  async stats(): Promise<HaproxyStat[]> {
    const socket = createConnection(join(this.dir, "admin.sock"));
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString()));
    const done = new Promise<void>((resolve, reject) => {
      socket.on("end", () => resolve());
      socket.on("error", reject);
    });
    socket.write("show stat\n");
    await withTimeout(done, 5_000, "haproxy show stat");
    const [header = "", ...rows] = text.trim().split("\n");
    const columns = header.replace(/^# /, "").split(",");
    return rows.map((row) => Object.fromEntries(row.split(",").map((value, i) => [columns[i] ?? String(i), value])));
  }

  /** The `show stat` row of server `server` in backend `backend`. */
  async server(backend: string, server: string): Promise<HaproxyStat> {
    const row = (await this.stats()).find((r) => r["pxname"] === backend && r["svname"] === server);
    if (row === undefined) throw new Error(`haproxy has no server ${backend}/${server}`);
    return row;
  }
}
