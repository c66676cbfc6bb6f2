import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { eventually } from "./eventually.js";
import { withTimeout } from "./raw-client.js";
import { freePort } from "./redis.js";

interface NatsServerConfig {
  /** Client port. */
  port: number;
  /** Cluster (route) port and the routes to the other servers; absent for a single server. */
  cluster?: { name: string; port: number; routes: number[] };
}

/**
 * A `nats-server -js` of the test's own on free loopback ports with its own store directory,
 * that the test can kill (SIGKILL) and start again on the same ports and store.
 */
export class NatsServer {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), "hubcast-nats-"));

  private constructor(private readonly config: NatsServerConfig) {}

  get port(): number {
    return this.config.port;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.config.port}`;
  }

  /** One JetStream server on a free port. */
  static async start(): Promise<NatsServer> {
    const server = new NatsServer({ port: await freePort() });
    await server.startProcess();
    return server;
  }

  /**
   * Starts the process (again) on the same ports and store; resolves when it accepts clients.
   * `jetstream: false` starts it without JetStream, whose API then has no responders.
   */
  async startProcess({ jetstream = true }: { jetstream?: boolean } = {}): Promise<void> {
    const { port, cluster } = this.config;
    const args = [
      ...(jetstream ? ["-js"] : []),
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      "-sd",
      this.dir,
      "-n",
      `n${port}`,
    ];
    if (cluster !== undefined) {
      const routes = cluster.routes.map((p) => `nats-route://127.0.0.1:${p}`).join(",");
      args.push("--cluster_name", cluster.name, "--cluster", `nats://127.0.0.1:${cluster.port}`, "--routes", routes);
    }
    const child = spawn("nats-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    let output = "";
    const ready = new Promise<void>((resolve, reject) => {
      child.stderr?.on("data", (d: Buffer) => {
        output += d.toString();
        if (output.includes("Server is ready")) resolve();
      });
      child.on("exit", (code) => reject(new Error(`nats-server exited with ${code}: ${output.slice(-500)}`)));
    });
    await withTimeout(ready, 10_000, `nats-server on port ${port}`);
  }

  /** Kills the process (SIGKILL: an outage, not a shutdown) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.on("exit", resolve));
    child.kill("SIGKILL");
    await withTimeout(exited, 5_000, "nats-server to exit");
  }

  /**
   * Stops the process (SIGSTOP) without closing its sockets: a server that hangs. Resolves once
   * every thread has stopped; a stop is only requested by the signal.
   */
  async pause(): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    this.child?.kill("SIGSTOP");
    const stopped = (): boolean =>
      readdirSync(`/proc/${pid}/task`).every((task) =>
        /^\d+ \(.*\) [Tt] /.test(readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8")),
      );
    await eventually(stopped, 5_000, "nats-server to stop", 5);
  }

  /** Lets a paused process go on (SIGCONT). */
  resume(): void {
    this.child?.kill("SIGCONT");
  }

  /** Kills the process and removes its store. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Three JetStream servers routed to each other on loopback: a cluster that survives one loss. */
export class NatsCluster {
  private constructor(readonly servers: NatsServer[]) {}

  /** Every server's client URL, comma-separated (the `--nats-url` form). */
  get urls(): string {
    return this.servers.map((s) => s.url).join(",");
  }

  static async start(size = 3): Promise<NatsCluster> {
    const clientPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
    const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
    const name = `hc${routePorts[0]}`;
    const servers = clientPorts.map(
      (port, i) =>
        new (NatsServer as unknown as new (c: NatsServerConfig) => NatsServer)({
          port,
          cluster: { name, port: routePorts[i] as number, routes: routePorts },
        }),
    );
    const cluster = new NatsCluster(servers);
    try {
      await Promise.all(servers.map((s) => s.startProcess()));
      await cluster.untilReplicated();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Stops every server and removes their stores. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }

  /** Server names are `n<client port>`; this one's by name (e.g. a stream's leader). */
  byName(name: string): NatsServer | undefined {
    return this.servers.find((s) => `n${s.port}` === name);
  }

  /** Waits until the servers elected a JetStream leader and can place a stream on all of them. */
  private async untilReplicated(): Promise<void> {
    const nc = await connect({ servers: this.servers.map((s) => s.url) });
    try {
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      await eventually(
        async () => {
          try {
            await jsm.streams.add({ name: "READY", subjects: ["ready.probe"], num_replicas: this.servers.length });
            await jsm.streams.delete("READY");
            return true;
          } catch {
            return false; // no meta leader yet, or not every peer known: try again
          }
        },
        15_000,
        "the NATS cluster to place a replicated stream",
        200,
      );
    } finally {
      await nc.close();
    }
  }
}
