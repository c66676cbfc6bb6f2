import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { TestCluster } from "../../../../test/support/nodes.js";
import { RawClient, withTimeout } from "../../../../test/support/raw-client.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { createNode } from "../node.js";
import type { HubcastNode } from "../node.js";
import type { NodeOptions } from "../options.js";
import type { NodeInfo } from "../registry/registry.js";
import { API_PATHS, MAX_API_BODY_BYTES } from "./api.js";
import { codeForStatus } from "./api-errors.js";
import type { ApiErrorBody, ApiErrorDetail } from "./api-errors.js";

const KEY = "test-key-0123456789abcdef";
const NAMESPACES: NodeOptions["namespaces"] = {
  chat: { historySize: 100, presence: true, allowPublish: true },
  plain: { allowPublish: true },
};
const byToken = { authenticate: ({ token }: { token: string | undefined }) => Promise.resolve({ user: token ?? "" }) };

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

interface CallOptions {
  body?: unknown;
  /** Sent as is instead of JSON-encoding `body`. */
  raw?: string;
  key?: string | null;
  contentType?: string;
}

/** One API request; `key: null` sends no Authorization header. */
async function call(base: string, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  const key = options.key === undefined ? KEY : options.key;
  if (key !== null) headers["Authorization"] = `Bearer ${key}`;
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (payload !== undefined) headers["Content-Type"] = options.contentType ?? "application/json";
  const res = await fetch(`${base}${path}`, { method, headers, body: payload });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** The `{"code", "message"}` of a failed answer; throws when the body has another shape. */
function failure(answer: Answer): ApiErrorDetail {
  const detail = (answer.body as Partial<ApiErrorBody>).error;
  if (typeof detail?.code !== "string" || typeof detail.message !== "string" || Object.keys(answer.body).length !== 1)
    throw new Error(`not an error body: ${JSON.stringify(answer.body)}`);
  return detail;
}

/** Polls `check` until it stops throwing (for state other processes publish asynchronously). */
async function eventually(check: () => Promise<void>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${(err as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

const cluster = new TestCluster();
afterEach(() => cluster.cleanup());

async function apiNode(options: NodeOptions = {}): Promise<{ node: HubcastNode; base: string; wsUrl: string }> {
  const { node, wsUrl } = await cluster.node({ apiKey: KEY, namespaces: NAMESPACES, ...options }, byToken);
  return { node, base: node.address.url, wsUrl };
}

async function userClient(wsUrl: string, user: string): Promise<RawClient> {
  const client = await cluster.client(wsUrl, false);
  await client.ok("connect", { token: user });
  return client;
}

describe("server API endpoints", () => {
  it("publishes to subscribers and returns the position when the channel keeps history", async () => {
    const { base, wsUrl } = await apiNode();
    const sub = await cluster.client(wsUrl);
    await sub.ok("subscribe", { channel: "chat:a" });
    await sub.ok("subscribe", { channel: "plain:a" });
    const withHistory = await call(base, "POST", "/api/publish", { body: { channel: "chat:a", data: { text: "hi" } } });
    expect(withHistory.status).toBe(200);
    expect(withHistory.body).toEqual({ position: { offset: 1, epoch: expect.any(String) as string } });
    expect(await call(base, "POST", "/api/publish", { body: { channel: "plain:a", data: null } })).toMatchObject({
      status: 200,
      body: {},
    });
    const [pub] = await sub.waitForPushes("publication", 1, "chat:a");
    expect(pub).toEqual({ channel: "chat:a", data: { text: "hi" }, offset: 1 });
    expect((await sub.waitForPushes("publication", 1, "plain:a"))[0]).toEqual({ channel: "plain:a", data: null });
  });

  it("broadcasts to many channels, reporting a failing channel without failing the others", async () => {
    const { base, wsUrl } = await apiNode();
    const sub = await cluster.client(wsUrl);
    await sub.ok("subscribe", { channel: "chat:b" });
    await sub.ok("subscribe", { channel: "plain:b" });
    const { status, body } = await call(base, "POST", "/api/broadcast", {
      body: { channels: ["chat:b", "nope:b", "plain:b"], data: 7 },
    });
    expect(status).toBe(200);
    expect(body["results"]).toEqual([
      { channel: "chat:b", position: { offset: 1, epoch: expect.any(String) as string } },
      {
        channel: "nope:b",
        error: {
          code: "bad_request",
          message: expect.stringContaining('namespace "nope" is not configured') as string,
        },
      },
      { channel: "plain:b" },
    ]);
    await sub.waitForPushes("publication", 1, "chat:b");
    await sub.waitForPushes("publication", 1, "plain:b");
  });

  it("reads history with limit, reverse and since, and the channel's current position", async () => {
    const { base } = await apiNode();
    for (let i = 1; i <= 5; i++) await call(base, "POST", "/api/publish", { body: { channel: "chat:h", data: { i } } });
    const all = await call(base, "GET", "/api/history?channel=chat:h");
    expect(all.status).toBe(200);
    const epoch = all.body["epoch"] as string;
    expect(all.body).toMatchObject({ offset: 5, epoch });
    expect(all.body["publications"]).toHaveLength(5);
    const offsets = async (query: string): Promise<number[]> =>
      (
        (await call(base, "GET", `/api/history?channel=chat:h&${query}`)).body["publications"] as { offset: number }[]
      ).map((p) => p.offset);
    expect(await offsets("limit=2")).toEqual([1, 2]);
    expect(await offsets("limit=2&reverse=true")).toEqual([5, 4]);
    expect(await offsets(`since_offset=3&since_epoch=${epoch}`)).toEqual([4, 5]);
    expect(await offsets("limit=0")).toEqual([]);
    const first = (all.body["publications"] as unknown[])[0];
    expect(first).toEqual({ offset: 1, data: { i: 1 } });
  });

  it("lists presence with client and user counts", async () => {
    const { base, wsUrl } = await apiNode();
    for (const user of ["alice", "alice", "bob"])
      await (await userClient(wsUrl, user)).ok("subscribe", { channel: "chat:p" });
    const { status, body } = await call(base, "GET", "/api/presence?channel=chat:p");
    expect(status).toBe(200);
    expect(body).toMatchObject({ numClients: 3, numUsers: 2 });
    const users = Object.values(body["clients"] as Record<string, { user: string }>).map((c) => c.user);
    expect(users.sort()).toEqual(["alice", "alice", "bob"]);
  });

  it("counts subscribers per channel and lists the node", async () => {
    const { node, base, wsUrl } = await apiNode();
    for (const channel of ["chat:c", "chat:c", "plain:c"])
      await (await cluster.client(wsUrl)).ok("subscribe", { channel });
    expect((await call(base, "GET", "/api/channels")).body).toEqual({
      channels: [
        { channel: "chat:c", subscribers: 2 },
        { channel: "plain:c", subscribers: 1 },
      ],
      nodes: 1,
    });
    const nodes = (await call(base, "GET", "/api/nodes")).body["nodes"] as NodeInfo[];
    expect(nodes.map((n) => n.id)).toEqual([node.id]);
    expect(nodes[0]).toMatchObject({ address: base, version: expect.any(String) as string });
  });

  it("disconnects every connection of a user with 3501, and no one else", async () => {
    const { base, wsUrl } = await apiNode();
    const [alice1, alice2, bob] = [
      await userClient(wsUrl, "alice"),
      await userClient(wsUrl, "alice"),
      await userClient(wsUrl, "bob"),
    ];
    expect(await call(base, "POST", "/api/disconnect", { body: { user: "alice" } })).toMatchObject({
      status: 200,
      body: {},
    });
    expect((await withTimeout(alice1.closed, 5_000, "alice1 to close")).code).toBe(3501);
    expect((await withTimeout(alice2.closed, 5_000, "alice2 to close")).code).toBe(3501);
    expect(await bob.ok("subscribe", { channel: "plain:still-here" })).toBeDefined();
  });

  it("documents every endpoint in docs/api.md", () => {
    const doc = readFileSync(new URL("../../../../docs/api.md", import.meta.url), "utf8");
    for (const path of API_PATHS) expect(doc, path).toMatch(new RegExp(`^### (GET|POST) ${path}$`, "m"));
  });
});

describe("server API access and errors", () => {
  it("wants the key as a bearer token", async () => {
    const { base } = await apiNode();
    const missing = await call(base, "GET", "/api/nodes", { key: null });
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toBe("Bearer");
    expect(failure(missing)).toMatchObject({
      code: "unauthorized",
      message: expect.stringMatching(/Authorization: Bearer/) as string,
    });
    const wrong = await call(base, "GET", "/api/nodes", { key: "not-the-key-0123456789" });
    expect(wrong.status).toBe(401);
    expect(failure(wrong)).toMatchObject({
      code: "unauthorized",
      message: expect.stringMatching(/wrong API key/) as string,
    });
    expect((await call(base, "GET", "/api/nodes", { key: KEY.slice(0, -1) })).status).toBe(401);
    const res = await fetch(`${base}/api/nodes`, { headers: { Authorization: `Basic ${KEY}` } });
    expect(res.status).toBe(401);
  });

  it("answers 404 on every /api path when the API is off", async () => {
    const { base } = await apiNode({ apiKey: "" });
    for (const path of ["/api/nodes", "/api/publish", "/api/bogus"]) {
      const answer = await call(base, "GET", path);
      expect(answer.status).toBe(404);
      expect(failure(answer)).toMatchObject({
        code: "not_found",
        message: expect.stringMatching(/API is off.*--api-key/) as string,
      });
    }
  });

  it("refuses unknown paths (404) and wrong methods (405 with Allow)", async () => {
    const { base } = await apiNode();
    const unknown = await call(base, "GET", "/api/bogus");
    expect(unknown.status).toBe(404);
    expect(failure(unknown)).toMatchObject({
      code: "not_found",
      message: expect.stringContaining("/api/publish") as string,
    });
    const wrongMethod = await call(base, "GET", "/api/publish");
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    expect(failure(wrongMethod).code).toBe("method_not_allowed");
    expect((await call(base, "POST", "/api/nodes", { body: {} })).headers.get("allow")).toBe("GET");
  });

  it("answers with the same error shape outside /api/", async () => {
    const { base } = await apiNode();
    const noRoute = await call(base, "GET", "/nope");
    expect(noRoute.status).toBe(404);
    expect(failure(noRoute)).toEqual({ code: "not_found", message: "no route for /nope" });
    const notGet = await call(base, "POST", "/healthz", { body: {} });
    expect(notGet.status).toBe(405);
    expect(failure(notGet).code).toBe("method_not_allowed");
  });

  it("says which field is wrong and what it expects", async () => {
    const { base } = await apiNode();
    const cases: [string, string, CallOptions, number, RegExp][] = [
      ["POST", "/api/publish", { raw: "{channel: 1}" }, 400, /not valid JSON/],
      ["POST", "/api/publish", { raw: "" }, 400, /body is empty/],
      [
        "POST",
        "/api/publish",
        { body: { channel: "chat:x", data: 1 }, contentType: "text/plain" },
        415,
        /Content-Type: application\/json/,
      ],
      ["POST", "/api/publish", { body: [1] }, 400, /must be a JSON object with "channel", "data"/],
      ["POST", "/api/publish", { body: { data: 1 } }, 400, /field "channel" must be a non-empty string/],
      ["POST", "/api/publish", { body: { channel: "chat:x" } }, 400, /field "data" is required/],
      ["POST", "/api/publish", { body: { channel: "chat:x", data: 1, chanel: "x" } }, 400, /unknown field "chanel"/],
      ["POST", "/api/publish", { body: { channel: "nope:x", data: 1 } }, 400, /namespace "nope" is not configured/],
      ["POST", "/api/broadcast", { body: { channels: [], data: 1 } }, 400, /"channels" must be an array of 1 to 1000/],
      ["POST", "/api/broadcast", { body: { channels: ["a", "a"], data: 1 } }, 400, /names "a" twice/],
      [
        "POST",
        "/api/broadcast",
        { body: { channels: ["a", 2], data: 1 } },
        400,
        /"channels\[1\]" must be a non-empty string/,
      ],
      [
        "POST",
        "/api/broadcast",
        { body: { channels: Array.from({ length: 1001 }, (_, i) => `c${i}`), data: 1 } },
        400,
        /1 to 1000/,
      ],
      ["GET", "/api/history", {}, 400, /"channel" is required/],
      ["GET", "/api/history?channel=plain:x", {}, 400, /history is off/],
      ["GET", "/api/history?channel=chat:x&limit=-1", {}, 400, /"limit" must be a non-negative integer/],
      ["GET", "/api/history?channel=chat:x&reverse=yes", {}, 400, /"reverse" must be true or false/],
      ["GET", "/api/history?channel=chat:x&since_offset=3", {}, 400, /"since_offset" and "since_epoch" go together/],
      ["GET", "/api/history?channel=chat:x&sinceOffset=3", {}, 400, /unknown query parameter "sinceOffset"/],
      ["GET", "/api/presence?channel=plain:x", {}, 400, /presence is off/],
      ["POST", "/api/disconnect", { body: { user: "" } }, 400, /field "user" must be a non-empty string/],
    ];
    for (const [method, path, options, status, message] of cases) {
      const answer = await call(base, method, path, options);
      expect(answer.status, `${method} ${path} ${JSON.stringify(options)}`).toBe(status);
      expect(failure(answer)).toMatchObject({
        code: codeForStatus(status),
        message: expect.stringMatching(message) as string,
      });
    }
  });

  it("refuses bodies over 1 MiB, declared or streamed", async () => {
    const { base } = await apiNode();
    const declared = await call(base, "POST", "/api/publish", { raw: " ".repeat(MAX_API_BODY_BYTES + 1) });
    expect(declared.status).toBe(413);
    expect(failure(declared)).toMatchObject({
      code: "payload_too_large",
      message: expect.stringMatching(/larger than 1048576 bytes/) as string,
    });
    const streamed = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${base}/api/publish`,
        { method: "POST", headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" } },
        (res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on("error", reject);
      req.write(Buffer.alloc(MAX_API_BODY_BYTES, " ")); // chunked: no Content-Length
      req.end('{"channel":"chat:x","data":1}');
    });
    expect(streamed.status).toBe(413);
    expect((JSON.parse(streamed.text) as ApiErrorBody).error.code).toBe("payload_too_large");
    // The limit is on bytes: exactly 1 MiB of JSON is fine.
    const head = '{"channel":"chat:x","data":"';
    const fits = `${head}${"x".repeat(MAX_API_BODY_BYTES - head.length - 2)}"}`;
    expect(fits.length).toBe(MAX_API_BODY_BYTES);
    expect((await call(base, "POST", "/api/publish", { raw: fits })).status).toBe(200);
  });

  it("answers 500 on unexpected errors and logs them with the path, never the key", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const { node } = await cluster.node({ apiKey: KEY, namespaces: NAMESPACES }, { logger });
    vi.spyOn(node.api, "nodes").mockRejectedValue(new Error("registry exploded"));
    const base = node.address.url;
    const answer = await call(base, "GET", "/api/nodes");
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ error: { code: "internal", message: "internal error; see the node's log" } });
    await call(base, "GET", "/api/nodes", { key: "wrong-key-0123456789abcd" });
    const failure = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l["msg"] === "unexpected error while serving an HTTP request; answered 500");
    expect(failure).toMatchObject({ level: 50, path: "/api/nodes", err: { message: "registry exploded" } });
    expect((await node.metrics.scrape()).text).toContain('hubcast_unexpected_errors_total{where="api"} 1');
    expect(lines.join("")).not.toContain(KEY);
    expect(lines.join("")).not.toContain("wrong-key");
  });
});

describe("server API across a Redis cluster", () => {
  let redis: RedisServer;
  const nodes: HubcastNode[] = [];
  const clients: RawClient[] = [];
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.stop());
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(nodes.splice(0).map((n) => n.close()));
  });

  async function redisNode(redisPrefix: string): Promise<{ base: string; wsUrl: string }> {
    const node = await createNode(
      {
        engine: "redis",
        redisUrl: redis.url,
        redisPrefix,
        port: 0,
        logLevel: "silent",
        demo: false,
        apiKey: KEY,
        namespaces: NAMESPACES,
        nodeTtlMs: 3_000,
      },
      byToken,
    );
    nodes.push(node);
    const { url } = await node.start();
    return { base: url, wsUrl: `${url.replace(/^http/, "ws")}/ws` };
  }

  async function redisClient(wsUrl: string, user: string): Promise<RawClient> {
    const client = await RawClient.open(wsUrl);
    clients.push(client);
    await client.ok("connect", { token: user });
    return client;
  }

  it("counts subscribers on every node, lists every node, and disconnects a user on another node", async () => {
    const prefix = `t-${randomUUID()}`;
    const a = await redisNode(prefix);
    const b = await redisNode(prefix);
    await eventually(async () => {
      expect(
        ((await call(a.base, "GET", "/api/nodes")).body["nodes"] as NodeInfo[]).map((n) => n.address).sort(),
      ).toEqual([a.base, b.base].sort());
    }, "both nodes in the registry");

    const onA = await redisClient(a.wsUrl, "alice");
    const onB = await redisClient(b.wsUrl, "bob");
    const alsoOnB = await redisClient(b.wsUrl, "carol");
    for (const client of [onA, onB, alsoOnB]) await client.ok("subscribe", { channel: "chat:x" });
    await onB.ok("subscribe", { channel: "plain:y" });
    expect((await call(a.base, "GET", "/api/channels")).body).toEqual({
      channels: [
        { channel: "chat:x", subscribers: 3 },
        { channel: "plain:y", subscribers: 1 },
      ],
      nodes: 2,
    });

    await call(a.base, "POST", "/api/publish", { body: { channel: "chat:x", data: "across" } });
    expect((await onB.waitForPushes("publication", 1, "chat:x"))[0]).toMatchObject({ data: "across" });

    expect((await call(a.base, "POST", "/api/disconnect", { body: { user: "bob" } })).status).toBe(200);
    expect((await withTimeout(onB.closed, 5_000, "bob's connection on node B to close")).code).toBe(3501);
    expect(await alsoOnB.ok("subscribe", { channel: "plain:z" })).toBeDefined();
  });
});
