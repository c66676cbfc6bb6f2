import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ServerProcess, runCli } from "../../../../test/support/processes.js";
import { RedisServer, freePort } from "../../../../test/support/redis.js";
import { FIRST_CONNECT_TIMEOUT_MS } from "@hubcast/emitter";
import type { NodeInfo } from "../registry/registry.js";
import { formatUptime } from "./nodes.js";

// These tests run the built CLI: `npm run build` first.

let redis: RedisServer;
const servers: ServerProcess[] = [];
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
});

/** Runs `hubcast nodes` until `accept` takes its output (nodes announce just after they listen). */
async function nodesUntil(args: string[], accept: (stdout: string) => boolean, timeoutMs = 5_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { code, stdout, stderr } = await runCli(["nodes", ...args]);
    expect(code, stderr).toBe(0);
    if (accept(stdout)) return stdout;
    if (Date.now() > deadline)
      throw new Error(`hubcast nodes ${args.join(" ")} never showed what the test expects:\n${stdout}`);
  }
}

async function redisNode(prefix: string): Promise<{ server: ServerProcess; id: string }> {
  const server = await ServerProcess.start([
    "--port",
    "0",
    "--no-demo",
    "--engine",
    "redis",
    "--redis-url",
    redis.url,
    "--redis-prefix",
    prefix,
  ]);
  servers.push(server);
  const id = server.logs.find((l) => l["msg"] === "hubcast listening")?.["node"];
  if (typeof id !== "string") throw new Error("hubcast start did not log its node id");
  return { server, id };
}

describe("hubcast nodes", () => {
  it("lists the live nodes from Redis as JSON and as a table", async () => {
    const prefix = `t-${randomUUID()}`;
    const a = await redisNode(prefix);
    const b = await redisNode(prefix);
    const json = await nodesUntil(
      ["--redis-url", redis.url, "--redis-prefix", prefix, "--json"],
      (out) => (JSON.parse(out) as { nodes: unknown[] }).nodes.length === 2,
    );
    const { nodes } = JSON.parse(json) as { nodes: NodeInfo[] };
    expect(nodes.map((n) => n.id).sort()).toEqual([a.id, b.id].sort());
    expect(nodes.map((n) => n.address).sort()).toEqual([a.server.url, b.server.url].sort());

    const { code, stdout } = await runCli(["nodes"], { HUBCAST_REDIS_URL: redis.url, HUBCAST_REDIS_PREFIX: prefix });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ID +ADDRESS +CONNECTIONS +SUBSCRIPTIONS +CHANNELS +UPTIME +VERSION$/m);
    for (const { server, id } of [a, b])
      expect(stdout).toMatch(new RegExp(`^${id.slice(0, 8)} +${server.url} +0 +0 +0 +\\d`, "m"));
    expect(stdout).toContain("2 nodes, 0 connections");

    const short = await runCli(["nodes", "--redis", redis.url, "--redis-prefix", prefix, "--json"]);
    expect((JSON.parse(short.stdout) as { nodes: unknown[] }).nodes).toHaveLength(2);

    const empty = await runCli(["nodes", "--redis-url", redis.url, "--redis-prefix", `t-${randomUUID()}`]);
    expect(empty.stdout).toMatch(/no live nodes under prefix "t-[0-9a-f-]+" in redis:\/\/127\.0\.0\.1:\d+/);
  });

  it(
    "exits 1 naming the URL when Redis cannot be reached",
    async () => {
      const url = `redis://127.0.0.1:${await freePort()}`;
      const { code, stderr } = await runCli(["nodes", "--redis-url", url], {}, FIRST_CONNECT_TIMEOUT_MS + 10_000);
      expect(code).toBe(1);
      expect(stderr).toContain(`cannot read the node registry from ${url}`);
      expect(stderr).toMatch(/cannot reach Redis/);
      expect(stderr).toMatch(/--redis-url/);
    },
    FIRST_CONNECT_TIMEOUT_MS + 20_000,
  );

  it("exits 2 on bad flags and shows help", async () => {
    const bogus = await runCli(["nodes", "--bogus"]);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/unknown option '--bogus'[\s\S]*hubcast nodes --help/);
    const badUrl = await runCli(["nodes", "--redis-url", "localhost:6379"]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/--redis-url: must be a redis:\/\/ or rediss:\/\/ URL/);
    const help = await runCli(["help", "nodes"]);
    expect(help.stdout).toContain("HUBCAST_REDIS_PREFIX");
    expect((await runCli(["--help"])).stdout).toMatch(/^ {2}nodes +/m);
  });

  it("formats uptimes compactly", () => {
    expect([0, 12_000, 185_000, 3_725_000, 2 * 86_400_000 + 3 * 3_600_000, -5_000].map(formatUptime)).toEqual([
      "0s",
      "12s",
      "3m 05s",
      "1h 02m",
      "2d 3h",
      "0s",
    ]);
  });
});
