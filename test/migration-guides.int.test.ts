/**
 * Runs the Hubcast snippets of the migration guides (docs/migrate-from-socketio.md and
 * docs/centrifugo.md) against real nodes, as a reader would run them.
 *
 * The convention, which docBlocks() enforces: the closest non-blank line above every fenced
 * block in these guides is an HTML comment that says what the block is:
 *
 *   <!-- run: <id> -->     a Hubcast snippet run here: ```js runs as an ES module in its own
 *                          Node process; ```json is a node config a scenario starts a node with.
 *   <!-- output: <id> -->  exactly what snippet <id> prints, line by line; checked here.
 *   <!-- socket.io -->, <!-- centrifugo -->
 *                          the other product's code, shown for comparison and not run.
 *
 * A block without a marker, a `run` id without a scenario below, or a scenario whose id is gone
 * from the guides fails, so no Hubcast snippet goes unrun. Snippets run as written but for their
 * addresses (ws://localhost:8080/ws, http://localhost:8080, redis://localhost:6379 and `port:
 * 8080` point at the test's servers) and their environment (HUBCAST_API_KEY,
 * HUBCAST_TOKEN_HMAC_SECRET). Client snippets written for a browser (the SDK without a
 * `websocket` option) run with the `ws` package as `globalThis.WebSocket`, which Node 22+ and
 * browsers have built in; nothing else differs.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { Client } from "../packages/client/src/index.js";
import type { PublicationPush } from "../packages/client/src/index.js";
import { createNode } from "../packages/server/src/node.js";
import type { NodeOptions } from "../packages/server/src/options.js";
import { docBlocks, retarget, SnippetProcess } from "./support/doc-snippets.js";
import type { DocBlock, SnippetTargets } from "./support/doc-snippets.js";
import { TestCluster } from "./support/nodes.js";
import { RedisServer } from "./support/redis.js";
import { SwitchProxy } from "./support/switch-proxy.js";
import { TEST_SECRET, sign } from "./support/tokens.js";

const API_KEY = "migration-guides-api-key-0123456789";
const ENV = { HUBCAST_API_KEY: API_KEY, HUBCAST_TOKEN_HMAC_SECRET: TEST_SECRET };

const GUIDES = ["../docs/migrate-from-socketio.md", "../docs/centrifugo.md"].map(
  (path) => new URL(path, import.meta.url),
);
const blocks: DocBlock[] = GUIDES.flatMap((url) => docBlocks(url));

/** The block marked `kind: id`; fails the test when there is none or several. */
function block(kind: "run" | "output", id: string): DocBlock {
  const found = blocks.filter((b) => b.kind === kind && b.id === id);
  expect(found, `one <!-- ${kind}: ${id} --> block`).toHaveLength(1);
  return found[0] as DocBlock;
}

/** The lines a snippet must print, from its `output` block. */
const expectedOutput = (id: string): string[] => block("output", id).code.trimEnd().split("\n");
const printed = (stdout: string): string[] => stdout.trimEnd().split("\n");

/** The node options a `run` config block gives, pointed at the test's Redis. */
function config(id: string, targets: SnippetTargets = {}): NodeOptions {
  const config = block("run", id);
  expect(config.lang).toBe("json");
  return JSON.parse(retarget(config.code, targets)) as NodeOptions;
}

const cluster = new TestCluster();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await cluster.cleanup();
});

/** Starts the snippet `id` against `targets`; stopped after the test. */
function start(id: string, targets: SnippetTargets = {}): SnippetProcess {
  const snippet = block("run", id);
  expect(snippet.lang).toBe("js");
  const process = new SnippetProcess(retarget(snippet.code, targets), ENV);
  cleanups.push(() => process.stop());
  return process;
}

/** Runs the snippet `id` to its end and checks that it printed its `output` block. */
async function runToEnd(id: string, targets: SnippetTargets): Promise<void> {
  const stdout = await start(id, targets).finished();
  expect(printed(stdout)).toEqual(expectedOutput(id));
}

/** A node with the guide's config `id` plus the API key and token secret the guides assume. */
async function guideNode(id: string, extra: NodeOptions = {}): Promise<SnippetTargets> {
  const { wsUrl } = await cluster.node({ ...config(id), apiKey: API_KEY, tokenHmacSecret: TEST_SECRET, ...extra });
  return { wsUrl, httpUrl: httpOf(wsUrl) };
}

const httpOf = (wsUrl: string): string => wsUrl.replace(/^ws/, "http").replace(/\/ws$/, "");

/** A node on an engine that connects first (Redis), which TestCluster cannot start; closed after the test. */
async function engineNode(options: NodeOptions): Promise<SnippetTargets & { wsUrl: string; httpUrl: string }> {
  const node = await createNode({ port: 0, logLevel: "silent", demo: false, ...options });
  cleanups.push(() => node.close());
  const { url } = await node.start();
  return { wsUrl: `${url.replace(/^http/, "ws")}${node.options.path}`, httpUrl: url };
}

async function redis(): Promise<RedisServer> {
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  return server;
}

/** An SDK client in the test, subscribed to `channel`, collecting what it receives. */
async function listener(
  wsUrl: string,
  channel: string,
  token?: string,
): Promise<{ client: Client; received: PublicationPush[] }> {
  const client = new Client(wsUrl, token === undefined ? { websocket: WebSocket } : { websocket: WebSocket, token });
  cleanups.push(async () => client.disconnect());
  const received: PublicationPush[] = [];
  const subscription = client.newSubscription(channel);
  subscription.on("publication", (publication) => received.push(publication));
  subscription.subscribe();
  client.connect();
  await subscription.ready();
  return { client, received };
}

const SCENARIOS = [
  "socketio-config",
  "socketio-rooms-client",
  "socketio-publish-api",
  "socketio-emitter",
  "socketio-engine",
  "socketio-publish-client",
  "socketio-recovery",
  "socketio-auth",
  "socketio-embed",
  "socketio-presence",
  "centrifugo-config",
  "centrifugo-engine",
  "centrifugo-client",
  "centrifugo-tokens",
  "centrifugo-server-api",
];

describe("migration guides", () => {
  it("mark every code block, and every Hubcast snippet is run by a scenario here", () => {
    const runIds = blocks.filter((b) => b.kind === "run").map((b) => b.id);
    expect([...runIds].sort()).toEqual([...SCENARIOS].sort());
    for (const output of blocks.filter((b) => b.kind === "output")) expect(runIds).toContain(output.id);
  });

  describe("Socket.IO", () => {
    it("rooms: a browser client receives what the backend publishes and broadcasts through the API", async () => {
      const targets = await guideNode("socketio-config");
      const room = start("socketio-rooms-client", targets);
      await room.waitFor("subscribed to chat:lobby");
      await runToEnd("socketio-publish-api", targets);
      await room.waitFor("maintenance at 22:00");
      expect(printed(room.stdout)).toEqual(expectedOutput("socketio-rooms-client"));
    });

    it("the emitter publishes through Redis to subscribers of a node on the engine config", async () => {
      const { url: redisUrl } = await redis();
      const { wsUrl } = await engineNode(config("socketio-engine", { redisUrl }));
      const { received } = await listener(wsUrl, "chat:lobby");
      await runToEnd("socketio-emitter", { redisUrl });
      await expect.poll(() => received.map((p) => [p.offset, p.data])).toEqual([[1, { text: "order 17 shipped" }]]);
    });

    it("publish is acknowledged with a position, refusals carry a code, and own publications can be skipped", async () => {
      await runToEnd("socketio-publish-client", await guideNode("socketio-config"));
    });

    it("recovery: a client moved to another node on the same Redis gets what it missed", async () => {
      const { url: redisUrl } = await redis();
      const options = { ...config("socketio-config"), engine: "redis", redisUrl, apiKey: API_KEY } as const;
      const { httpUrl: a } = await engineNode(options);
      const { httpUrl: b } = await engineNode(options);
      const proxy = new SwitchProxy(a);
      cleanups.push(() => proxy.close());
      const snippet = start("socketio-recovery", { wsUrl: await proxy.start() });
      await snippet.waitFor("subscribed");

      proxy.cut();
      proxy.switchTo(b);
      const response = await fetch(`${b}/api/publish`, {
        method: "POST",
        headers: { Authorization: `Bearer ${API_KEY}`, "Content-Type": "application/json" },
        body: JSON.stringify({ channel: "chat:lobby", data: { text: "sent while you were away" } }),
      });
      expect(response.status).toBe(200);
      proxy.restore();

      await snippet.waitFor("resubscribed");
      expect(printed(snippet.stdout)).toEqual(expectedOutput("socketio-recovery"));
    });

    it("auth: a token from getToken identifies the user in presence", async () => {
      await runToEnd("socketio-auth", await guideNode("socketio-config"));
    });

    it("an embedded node's authenticate hook refuses a bad token for good", async () => {
      await runToEnd("socketio-embed", {});
    });

    it("presence: counts, then join and leave of another user", async () => {
      const targets = await guideNode("socketio-config");
      const lobby = start("socketio-presence", targets);
      await lobby.waitFor("in the lobby: 1");
      const { client: alice } = await listener(targets.wsUrl ?? "", "chat:lobby", await sign({ sub: "alice" }));
      await lobby.waitFor("in the lobby: 2");
      alice.disconnect();
      await lobby.waitFor("left: alice");
      expect(printed(lobby.stdout)).toEqual(expectedOutput("socketio-presence"));
    });
  });

  describe("Centrifugo", () => {
    it("the client: subscribe, publish, history and presence stats", async () => {
      await runToEnd("centrifugo-client", await guideNode("centrifugo-config"));
    });

    it("tokens: a listed channel, a channel token, and a refusal", async () => {
      await runToEnd("centrifugo-tokens", await guideNode("centrifugo-config"));
    });

    it("the server API: an idempotent publish and history since a position", async () => {
      await runToEnd("centrifugo-server-api", await guideNode("centrifugo-config"));
    });

    it("the engine config starts a node on Redis with recoverable channels", async () => {
      const { url: redisUrl } = await redis();
      const { wsUrl } = await engineNode(config("centrifugo-engine", { redisUrl }));
      const client = new Client(wsUrl, { websocket: WebSocket });
      cleanups.push(async () => client.disconnect());
      const subscription = client.newSubscription("chat:index");
      const subscribed = new Promise((resolve) => subscription.on("subscribed", resolve));
      subscription.subscribe();
      client.connect();
      expect(await subscribed).toMatchObject({ recoverable: true, wasRecovering: false });
    });
  });
});
