import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../../../test/support/eventually.js";
import { expectFanOutOnceInOrder, expectRecoveryOnAnotherNode } from "../../../test/support/multinode-scenarios.js";
import { NatsServer } from "../../../test/support/nats.js";
import { startNatsNodes } from "../../../test/support/nats-nodes.js";
import { runCli } from "../../../test/support/processes.js";
import type { ServerProcess } from "../../../test/support/processes.js";
import { freePort } from "../../../test/support/redis.js";
import { RawClient } from "../../../test/support/raw-client.js";
import { readNatsRegistry } from "./engine/nats.js";

interface Position {
  offset: number;
  epoch: string;
}

let nats: NatsServer;
const servers: ServerProcess[] = [];
const clients: RawClient[] = [];
beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(() => nats.stop());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
});

async function nodes(count: number, extraArgs: string[] = []): Promise<{ nodes: ServerProcess[]; prefix: string }> {
  const started = await startNatsNodes(nats.url, count, extraArgs);
  servers.push(...started.nodes);
  return started;
}

async function client(node: ServerProcess): Promise<RawClient> {
  const c = await RawClient.connected(node.wsUrl);
  clients.push(c);
  return c;
}

describe("nodes on one NATS server act as one", () => {
  it("delivers publications made on any node to subscribers on every node, once and in order", async () => {
    await expectFanOutOnceInOrder((await nodes(3)).nodes, client);
  });

  it("recovers on node B what a client missed after leaving node A, published through node C", async () => {
    await expectRecoveryOnAnotherNode((await nodes(3)).nodes, client);
  });

  it("says recovered: false when history was trimmed", async () => {
    const [a, b] = (await nodes(2)).nodes;
    const c1 = await client(a as ServerProcess);
    const { position } = await c1.ok<{ position: Position }>("subscribe", { channel: "small:t" });
    await c1.ok("unsubscribe", { channel: "small:t" });
    for (let i = 1; i <= 15; i++) await c1.ok("publish", { channel: "small:t", data: i });
    const c2 = await client(b as ServerProcess);
    expect(await c2.ok("subscribe", { channel: "small:t", since: position })).toMatchObject({
      recovered: false,
      publications: [],
    });
  });

  it("drops a SIGKILLed node's presence entries and its place in the cluster view within the TTLs", async () => {
    const ttlArgs = ["--presence-ttl-ms", "1500", "--node-ttl-ms", "1500"];
    const { nodes: pair, prefix } = await nodes(2, ttlArgs);
    const [survivor, victim] = pair as [ServerProcess, ServerProcess];
    const watcher = await client(survivor);
    await watcher.ok("subscribe", { channel: "chat:p" });
    const doomed = await client(victim);
    await doomed.ok("subscribe", { channel: "chat:p" });
    expect(await watcher.ok("presence_stats", { channel: "chat:p" })).toMatchObject({ numClients: 2 });
    await eventually(
      async () => (await readNatsRegistry([nats.url], prefix)).length === 2,
      5_000,
      "both nodes in the cluster view",
    );
    const killedAt = Date.now();
    await victim.stop("SIGKILL");
    await eventually(
      async () => (await watcher.ok<{ numClients: number }>("presence_stats", { channel: "chat:p" })).numClients === 1,
      5_000,
      "the victim's presence to expire",
    );
    await eventually(
      async () => (await readNatsRegistry([nats.url], prefix)).length === 1,
      5_000,
      "the victim to leave the cluster view",
    );
    expect(Date.now() - killedAt).toBeLessThan(1500 + 1500);
  });

  it("shows the cluster in /api/nodes and hubcast nodes, read from NATS", async () => {
    const apiKey = "nats-test-key-0123456789";
    const { nodes: pair, prefix } = await nodes(2, ["--api-key", apiKey]);
    const [first] = pair as [ServerProcess, ServerProcess];
    const listed = async (): Promise<number> => {
      const res = await fetch(`${first.url}/api/nodes`, { headers: { authorization: `Bearer ${apiKey}` } });
      return ((await res.json()) as { nodes: unknown[] }).nodes.length;
    };
    await eventually(async () => (await listed()) === 2, 5_000, "both nodes in /api/nodes");
    const cli = await runCli(["nodes", "--engine", "nats", "--nats-url", nats.url, "--redis-prefix", prefix, "--json"]);
    expect(cli.code).toBe(0);
    expect((JSON.parse(cli.stdout) as { nodes: unknown[] }).nodes).toHaveLength(2);
  });

  it("exits at start with one line naming --nats-url when NATS is unreachable", async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const { code, stderr } = await runCli(["start", "--engine", "nats", "--nats-url", url, "--port", "0"], {}, 20_000);
    expect(code).toBe(1);
    const lines = stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(url);
    expect(lines[0]).toContain("--nats-url");
    const missing = await runCli(["nodes", "--engine", "nats", "--nats-url", url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("--nats-url");
  });
});
