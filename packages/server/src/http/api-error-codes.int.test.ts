import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { BlackholeProxy } from "../../../../test/support/blackhole-proxy.js";
import { eventually } from "../../../../test/support/eventually.js";
import { NatsServer } from "../../../../test/support/nats.js";
import { TestCluster } from "../../../../test/support/nodes.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { createNode } from "../node.js";
import type { NodeOptions } from "../options.js";
import { apiErrorCatalogue } from "./api-errors.js";
import type { ApiErrorCode } from "./api-errors.js";
import { MAX_API_BODY_BYTES } from "./api.js";

// Every code of the catalogue, made by a real node over real HTTP: the scenario table is a
// Record over the codes, so a code added to the catalogue without a scenario does not compile.

const KEY = "test-key-0123456789abcdef";
const NAMESPACES: NodeOptions["namespaces"] = { chat: { historySize: 10 } };

interface Answer {
  status: number;
  body: unknown;
}

const cluster = new TestCluster();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await cluster.cleanup();
  // In reverse, each whatever the others did, so that no process outlives the test.
  const failures: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((err: unknown) => failures.push(err));
  if (failures.length > 0) throw new AggregateError(failures, "cleanup failed");
});

/** An in-process node on the memory engine. */
async function apiBase(): Promise<string> {
  const { node } = await cluster.node({ apiKey: KEY, namespaces: NAMESPACES });
  return node.address.url;
}

/** A node on an engine that connects asynchronously (redis, nats), closed after the test. */
async function engineNode(options: NodeOptions): Promise<string> {
  const node = await createNode({
    port: 0,
    logLevel: "silent",
    demo: false,
    apiKey: KEY,
    namespaces: NAMESPACES,
    redisPrefix: `t-${randomUUID().slice(0, 8)}`,
    ...options,
  });
  cleanups.push(() => node.close());
  return (await node.start()).url;
}

async function send(base: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const headers = { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json", ...init.headers };
  const res = await fetch(`${base}${path}`, { ...init, headers });
  return { status: res.status, body: (await res.json()) as unknown };
}

/** A GET without the API key (the streams take tokens, not the key). */
async function get(url: string): Promise<Answer> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as unknown };
}

const publish = (base: string, body: unknown): Promise<Answer> =>
  send(base, "/api/publish", { method: "POST", body: JSON.stringify(body) });

async function redisServer(): Promise<RedisServer> {
  const redis = await RedisServer.start();
  cleanups.push(() => redis.stop());
  return redis;
}

/** Waits until the node at `base` is ready again (its engine reconnected); cleanups run this before the node closes. */
const ready = (base: string): Promise<void> =>
  eventually(async () => (await fetch(`${base}/readyz`)).status === 200, 10_000, "the node to be ready again", 100);

/**
 * Publishes until the answer carries `code`: the node notices a lost engine connection only
 * moments later (until then a publish may fail another way), with no event a test can await.
 */
async function answerOnceDown(base: string, code: ApiErrorCode): Promise<Answer> {
  let answer: Answer = { status: 0, body: undefined };
  await eventually(
    async () => {
      answer = await publish(base, { channel: "chat:down", data: 1 });
      return (answer.body as { error?: { code?: string } }).error?.code === code;
    },
    10_000,
    `a publish answered with ${code}`,
    100,
  );
  return answer;
}

const SCENARIOS: Readonly<Record<ApiErrorCode, () => Promise<Answer>>> = {
  async bad_request() {
    return publish(await apiBase(), { data: 1 });
  },
  async unauthorized() {
    return send(await apiBase(), "/api/nodes", { headers: { Authorization: "Bearer not-the-key-0123456789" } });
  },
  async forbidden() {
    // A stream asks for a channel its client may not subscribe to: refused before it starts.
    const { node } = await cluster.node({ namespaces: { members: { subscribe: "authenticated" } } });
    return get(`${node.address.url}/sse?channel=members:x`);
  },
  async too_many_connections() {
    const { node } = await cluster.node({ maxConnectionsPerIp: 1, namespaces: NAMESPACES });
    const first = new AbortController();
    cleanups.push(async () => first.abort());
    const open = await fetch(`${node.address.url}/stream?channel=chat:x`, { signal: first.signal });
    expect(open.status).toBe(200);
    return get(`${node.address.url}/stream?channel=chat:x`);
  },
  async unavailable() {
    const { node } = await cluster.node({ maxConnectionsPerSecond: 1, namespaces: NAMESPACES });
    const first = new AbortController();
    cleanups.push(async () => first.abort());
    const open = await fetch(`${node.address.url}/stream?channel=chat:x`, { signal: first.signal });
    expect(open.status).toBe(200);
    return get(`${node.address.url}/stream?channel=chat:x`);
  },
  async too_many_requests() {
    // Failed admin logins from one address: past five a minute, every login is refused.
    const { node } = await cluster.node({ adminPassword: "admin-password-0123" });
    const login = (): Promise<Answer> =>
      send(node.address.url, "/admin/api/login", {
        method: "POST",
        body: JSON.stringify({ password: "wrong-password-0123" }),
        headers: { "X-Hubcast-Admin": "1" },
      });
    for (let i = 0; i < 5; i++) expect((await login()).status).toBe(401);
    return login();
  },
  async not_found() {
    return send(await apiBase(), "/api/bogus");
  },
  async method_not_allowed() {
    return send(await apiBase(), "/api/publish");
  },
  async payload_too_large() {
    return send(await apiBase(), "/api/publish", { method: "POST", body: " ".repeat(MAX_API_BODY_BYTES + 1) });
  },
  async unsupported_media_type() {
    const body = JSON.stringify({ channel: "chat:x", data: 1 });
    return send(await apiBase(), "/api/publish", { method: "POST", body, headers: { "Content-Type": "text/plain" } });
  },
  async internal() {
    // Redis is gone: the node's client refuses the command without sending it, so nothing was made.
    const redis = await redisServer();
    const base = await engineNode({ engine: "redis", redisUrl: redis.url });
    await redis.kill();
    cleanups.push(async () => {
      await redis.startProcess();
      await ready(base); // so that it can leave the cluster view as it closes
    });
    return answerOnceDown(base, "internal");
  },
  async publish_expired() {
    // NATS comes back without JetStream: the node retries its history append (no stream leader
    // answers) until the deadline passes, knowing nothing was stored.
    const nats = await NatsServer.start();
    cleanups.push(() => nats.stop());
    const base = await engineNode({ engine: "nats", natsUrl: nats.url, publishTimeoutMs: 300 });
    await nats.kill();
    await nats.startProcess({ jetstream: false });
    cleanups.push(async () => {
      await nats.kill();
      await nats.startProcess();
      await ready(base); // so that it can leave the cluster view as it closes
    });
    return answerOnceDown(base, "publish_expired");
  },
  async outcome_unknown() {
    const redis = await redisServer();
    const link = new BlackholeProxy({ host: "127.0.0.1", port: redis.port });
    cleanups.push(() => link.close());
    const redisUrl = await link.start();
    const base = await engineNode({ engine: "redis", redisUrl, publishTimeoutMs: 300 });
    link.blackhole();
    cleanups.push(async () => link.heal()); // before the node closes (cleanups run in reverse)
    return publish(base, { channel: "chat:lost", data: 1 });
  },
};

describe("every API error code", () => {
  for (const [code, { status }] of Object.entries(apiErrorCatalogue) as [ApiErrorCode, { status: number }][]) {
    it(`${code}: answered ${status} with {"error": {"code", "message"}}`, { timeout: 30_000 }, async () => {
      const answer = await SCENARIOS[code]();
      expect(answer).toEqual({ status, body: { error: { code, message: expect.any(String) as string } } });
    });
  }
});
