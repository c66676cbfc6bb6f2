import { createServer } from "node:net";
import type { AddressInfo, Server } from "node:net";
import { CloseCode } from "@hubcast/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../../../../test/support/eventually.js";
import { runCli } from "../../../../test/support/processes.js";
import type { RawClient } from "../../../../test/support/raw-client.js";
import { WorkerCluster, isAlive } from "../../../../test/support/workers.js";

const clusters: WorkerCluster[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.stop()));
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function start(args: string[] = []): Promise<WorkerCluster> {
  const cluster = await WorkerCluster.start(args);
  clusters.push(cluster);
  return cluster;
}

/** SIGKILLs the current process of worker `slot` and waits until the primary reports a new one ready; returns the new pid. */
async function killAndAwaitRestart(cluster: WorkerCluster, slot: number): Promise<number> {
  const pid = cluster.workerPids().get(slot);
  if (pid === undefined) throw new Error(`worker ${slot} is not running`);
  const seen = new Set(cluster.primaryLogs("worker ready").map((l) => l["workerPid"]));
  process.kill(pid, "SIGKILL");
  const ready = await cluster.primaryLog("worker ready", (l) => l["worker"] === slot && !seen.has(l["workerPid"]));
  return ready["workerPid"] as number;
}

describe("cluster supervision", () => {
  it("restarts a worker killed with SIGKILL, and the node keeps serving with both workers", async () => {
    const cluster = await start();
    await cluster.viewUntil((nodes) => nodes.length === 2, "both workers in the view");
    const oldPid = cluster.workerPids().get(1);
    const oldNode = cluster.primaryLogs("worker ready").find((l) => l["worker"] === 1)?.["node"];
    const newPid = await killAndAwaitRestart(cluster, 1);
    expect(newPid).not.toBe(oldPid);
    expect(isAlive(oldPid ?? 0)).toBe(false);
    const restart = await cluster.primaryLog("worker exited unexpectedly; restarting it");
    expect(restart).toMatchObject({ worker: 1, workerPid: oldPid, signal: "SIGKILL" });
    // The dead worker's node left the view when the relay dropped it; the new one is in it.
    await cluster.viewUntil(
      (nodes) => nodes.length === 2 && nodes.every((n) => n.id !== oldNode),
      "the restarted worker in the view, the dead one gone",
    );
    const clients = await cluster.spreadClients(4);
    for (const c of clients) await c.ok("subscribe", { channel: "chat:after" });
    await (clients[0] as RawClient).ok("publish", { channel: "chat:after", data: "still here" });
    for (const c of clients) await c.waitForPushes("publication", 1, "chat:after");
    expect(cluster.server.child.exitCode).toBeNull();
  });

  it("gives up with a clear error and a non-zero exit when a worker crashes in a loop", {
    timeout: 60_000,
  }, async () => {
    const cluster = await start();
    // Six crashes of worker 1 within a minute: the primary restarts it five times, then stops.
    for (let crash = 1; crash <= 5; crash++) await killAndAwaitRestart(cluster, 1);
    const last = cluster.workerPids().get(1) ?? 0;
    process.kill(last, "SIGKILL");
    await eventually(() => cluster.server.child.exitCode !== null, 10_000, "the primary to exit");
    expect(cluster.server.child.exitCode).toBe(1);
    const error = await cluster.primaryLog("worker crashes in a loop: giving up");
    expect(error).toMatchObject({ worker: 1, crashes: 6, level: 50 });
    expect(cluster.stderr).toContain(
      "hubcast: worker 1 crashed 6 times, more than the limit of 5 crashes within 60 s (last: signal SIGKILL); giving up",
    );
    // Worker 2 was stopped with the primary.
    for (const pid of cluster.workerPids().values()) expect(isAlive(pid)).toBe(false);
  });

  it("stops at once, with exit status 2 and the reason, when workers cannot take the port", async () => {
    const busy = createServer();
    servers.push(busy);
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as AddressInfo).port;
    const result = await runCli(["start", "--workers", "2", "--port", String(port), "--no-demo"], {}, 20_000);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`port ${port} on 127.0.0.1 is in use`);
    expect(result.stderr).toContain("could not start: exit status 2, a configuration problem");
  });

  it("drains every worker on SIGTERM: clients get the 3000 push, and the primary exits 0", async () => {
    const cluster = await start(["--drain-window-ms", "500"]);
    const clients = await cluster.spreadClients(6);
    const pids = [...cluster.workerPids().values()];
    expect(pids).toHaveLength(2);
    const code = await cluster.server.stop("SIGTERM");
    expect(code).toBe(0);
    for (const c of clients) {
      expect((await c.closed).code).toBe(CloseCode.shutdown);
      expect(c.pushes("disconnect")).toEqual([{ code: CloseCode.shutdown, reason: "shutdown", reconnect: true }]);
    }
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(cluster.primaryLogs("worker exited").map((l) => l["code"])).toEqual([0, 0]);
  });

  it("logs one stats line per worker with its connections, subscriptions, channels and restarts", async () => {
    const cluster = await start(["--worker-stats-interval-ms", "300"]);
    const clients = await cluster.spreadClients(4);
    for (const c of clients) await c.ok("subscribe", { channel: "chat:stats" });
    const pids = cluster.workerPids();
    for (const slot of [1, 2]) {
      const line = await cluster.primaryLog("worker stats", (l) => l["worker"] === slot && l["subscriptions"] === 2);
      expect(line).toMatchObject({
        workerPid: pids.get(slot),
        state: "ready",
        connections: 2,
        channels: 1,
        restarts: 0,
      });
    }
  });
});
