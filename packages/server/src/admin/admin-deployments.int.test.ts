import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_PASSWORD, call, login } from "../../../../test/support/admin-client.js";
import { startNatsNodes } from "../../../../test/support/nats-nodes.js";
import { NatsServer } from "../../../../test/support/nats.js";
import type { ServerProcess } from "../../../../test/support/processes.js";
import { WorkerCluster } from "../../../../test/support/workers.js";

/**
 * The admin UI sees the whole deployment however it runs: the workers of cluster mode, and
 * nodes sharing NATS (nodes sharing Redis: admin-data.int.test.ts and the browser test).
 */
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

interface ClusterAnswer {
  nodes: { id: string; ready: boolean; connections: number }[];
  history: Record<string, unknown[]>;
}

/** Logs in at `base` and reads the cluster view until it lists `count` ready nodes. */
async function seesNodes(base: string, count: number): Promise<ClusterAnswer> {
  const cookie = await login(base);
  let cluster: ClusterAnswer | undefined;
  await expect
    .poll(
      async () => {
        cluster = (await call(base, "/admin/api/cluster", { cookie })).body as ClusterAnswer;
        return cluster.nodes.filter((n) => n.ready).length;
      },
      { timeout: 10_000 },
    )
    .toBe(count);
  return cluster as ClusterAnswer;
}

describe("the admin UI across a deployment", () => {
  it("in cluster mode lists every worker, each with its history, from any worker's page", async () => {
    const workers = await WorkerCluster.start(["--admin-password", ADMIN_PASSWORD]);
    stops.push(() => workers.stop());
    const cluster = await seesNodes(workers.url, 2);
    for (const node of cluster.nodes) expect(Array.isArray(cluster.history[node.id])).toBe(true);
  });

  it("on NATS lists both nodes, and a session from one node works on the other", async () => {
    const nats = await NatsServer.start();
    stops.push(() => nats.stop());
    const { nodes } = await startNatsNodes(nats.url, 2, ["--admin-password", ADMIN_PASSWORD]);
    stops.push(() => Promise.all(nodes.map((n: ServerProcess) => n.stop())));
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    await seesNodes(a.url, 2);
    const cookie = await login(a.url);
    const fromB = await call(b.url, "/admin/api/session", { cookie });
    expect(fromB.status).toBe(200);
  });
});
