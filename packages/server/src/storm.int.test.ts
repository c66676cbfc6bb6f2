import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { get } from "node:http";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ServerProcess } from "../../../test/support/processes.js";
import { configFile } from "../../../test/support/redis-nodes.js";
import { RawClient } from "../../../test/support/raw-client.js";
import { eventually } from "../../../test/support/eventually.js";

const WORKER = fileURLToPath(new URL("../../../test/support/crowd-worker.mjs", import.meta.url));

interface Progress {
  subscribed: number;
  tryLater: number;
  received: Record<string, number>;
}

/** A crowd-worker process and its latest progress report. */
class Crowd {
  latest: Progress = { subscribed: 0, tryLater: 0, received: {} };
  readonly child: ChildProcess;

  constructor(url: string, count: number, channel: string) {
    this.child = spawn(process.execPath, [WORKER, url, String(count), channel], { stdio: ["pipe", "pipe", "inherit"] });
    let buffered = "";
    this.child.stdout?.on("data", (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      const last = lines.at(-1);
      if (last !== undefined && last !== "") this.latest = JSON.parse(last) as Progress;
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      this.child.on("exit", () => resolve());
      this.child.stdin?.end();
      setTimeout(() => this.child.kill("SIGKILL"), 10_000).unref();
    });
  }
}

/** GETs `url` and resolves with the status, or with when the probe was sent and why it failed. */
function probeReady(url: string, started: number): Promise<string> {
  const sent = Date.now() - started;
  return new Promise((resolve) => {
    const req = get(url, { agent: false }, (res) => {
      res.resume();
      resolve(String(res.statusCode));
    });
    req.setTimeout(60_000, () => req.destroy(new Error("no answer in 60 s")));
    req.on("error", (err) => resolve(`sent at ${sent} ms: ${err.message}`));
  });
}

const crowds: Crowd[] = [];
const servers: ServerProcess[] = [];
afterEach(async () => {
  await Promise.all([...crowds.splice(0).map((c) => c.stop()), ...servers.splice(0).map((s) => s.stop("SIGKILL"))]);
}, 30_000);

describe("reconnect storm", () => {
  it("absorbs 10,000 clients arriving at once: admits at its rate, sheds the rest with retry hints, stays ready", {
    timeout: 120_000,
  }, async () => {
    // A plain channel: join/leave would add 10,000 × 10,000 pushes, which is not what is measured here.
    const config = configFile({ namespaces: { storm: { allowPublish: true } }, demo: false });
    const node = await ServerProcess.start(["--port", "0", "--max-connections-per-second", "800", "--config", config]);
    servers.push(node);
    const channel = "storm:all";
    for (let i = 0; i < 2; i++) crowds.push(new Crowd(node.wsUrl, 5_000, channel));
    // Readiness is probed every 200 ms as an orchestrator would, and every probe must be answered
    // 200. A probe waits for its answer however long the accept queue makes it (node:http has no
    // connect timeout; fetch gives up after 10 s): on a saturated machine a SYN can wait out a
    // full queue, and what is asserted here is what the node answers, not the kernel's queue.
    const started = Date.now();
    const probes: Promise<string>[] = [];
    const watcher = setInterval(() => probes.push(probeReady(`${node.url}/readyz`, started)), 200);
    try {
      await eventually(
        () => crowds.reduce((n, c) => n + c.latest.subscribed, 0) === 10_000,
        90_000,
        "10,000 subscribed clients",
      );
    } finally {
      clearInterval(watcher);
    }
    const answers = await Promise.all(probes);
    expect(answers.length).toBeGreaterThan(5);
    expect(answers.filter((a) => a !== "200")).toEqual([]);
    expect(node.child.exitCode).toBeNull();
    // Admission shed part of the crowd (more arrived per second than it admits) and they came back.
    expect(crowds.reduce((n, c) => n + c.latest.tryLater, 0)).toBeGreaterThan(0);

    const publisher = await RawClient.connected(node.wsUrl);
    await publisher.ok("publish", { channel, data: "ping-1" });
    await eventually(
      () => crowds.reduce((n, c) => n + (c.latest.received["ping-1"] ?? 0), 0) === 10_000,
      30_000,
      "the publication to reach all 10,000",
    );
    await publisher.close();
  });

  it("listens with a queue of listenBacklog connections, 4096 by default, as far as the kernel allows", async () => {
    const somaxconn = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"));
    // ss shows a listening socket's backlog in its Send-Q column.
    const backlogOf = (port: number): number => {
      const line = execFileSync("ss", ["-Hltn", `sport = :${port}`], { encoding: "utf8" }).trim();
      return Number(line.split(/\s+/)[2]);
    };
    const [byDefault, configured, leastConnections, roundRobin] = await Promise.all([
      ServerProcess.start(["--port", "0"]),
      ServerProcess.start(["--port", "0", "--listen-backlog", "64"]),
      // Cluster mode: the primary's balancer listens, or Node's cluster module for the workers.
      ServerProcess.start(["--port", "0", "--workers", "2", "--listen-backlog", "65"]),
      ServerProcess.start(["--port", "0", "--workers", "2", "--balancing", "round-robin", "--listen-backlog", "66"]),
    ]);
    servers.push(byDefault, configured, leastConnections, roundRobin);
    expect(backlogOf(byDefault.port)).toBe(Math.min(4096, somaxconn));
    expect(backlogOf(configured.port)).toBe(64);
    expect(backlogOf(leastConnections.port)).toBe(65);
    expect(backlogOf(roundRobin.port)).toBe(66);
  });
});
