/**
 * Runs the examples of docs/pusher.md against real nodes, as a reader would: the `hubcast
 * start` line, pusher-js, the `pusher` server SDK, Laravel Echo, the config files and the
 * webhook receiver. Every block carries a marker (see migration-guides.int.test.ts):
 * `<!-- run: id -->` blocks run here, `<!-- output: id -->` blocks are what they print, and
 * `<!-- laravel -->`, `<!-- soketi -->`, `<!-- reverb -->` blocks are other products' settings.
 * Snippets run as written but for their addresses: `localhost` becomes 127.0.0.1, port 8080
 * the test node's port, port 3000 (the webhook receiver) a free one.
 */
import { afterEach, describe, expect, it } from "vitest";
import { resolveNodeOptions } from "../packages/server/src/options.js";
import type { NodeOptions } from "../packages/server/src/options.js";
import { SnippetProcess, docBlocks } from "./support/doc-snippets.js";
import type { DocBlock } from "./support/doc-snippets.js";
import { TestCluster } from "./support/nodes.js";
import { ServerProcess } from "./support/processes.js";
import type { PusherJs } from "./support/pusher.js";
import { connected, pusherClient, serverSdk, subscribed } from "./support/pusher.js";
import { freePort } from "./support/redis.js";

const blocks: DocBlock[] = docBlocks(new URL("../docs/pusher.md", import.meta.url));
const APP = { id: "1001", key: "app-key", secret: "app-secret-1234" };

function block(kind: "run" | "output", id: string): DocBlock {
  const found = blocks.filter((b) => b.kind === kind && b.id === id);
  expect(found, `one <!-- ${kind}: ${id} --> block`).toHaveLength(1);
  return found[0] as DocBlock;
}

const lines = (text: string): string[] => text.trimEnd().split("\n");

/** The snippet pointed at the test's node (`port`) and webhook receiver (`hookPort`). */
function retarget(code: string, port: number, hookPort = 3000): string {
  return code
    .replaceAll("localhost", "127.0.0.1")
    .replaceAll("8080", String(port))
    .replaceAll("3000", String(hookPort));
}

const cluster = new TestCluster();
const cleanups: (() => Promise<void>)[] = [];
const pushers: PusherJs[] = [];
afterEach(async () => {
  for (const client of pushers.splice(0)) client.disconnect();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await cluster.cleanup();
});

function snippet(id: string, port: number, hookPort?: number): SnippetProcess {
  const code = block("run", id);
  expect(code.lang).toBe("js");
  const process = new SnippetProcess(retarget(code.code, port, hookPort), {});
  cleanups.push(() => process.stop());
  return process;
}

/** The node options of a `run` config block, on a free port, with `hookPort` for its webhooks. */
function config(id: string, hookPort = 3000): NodeOptions {
  const code = block("run", id);
  expect(code.lang).toBe("json");
  return { ...(JSON.parse(retarget(code.code, 8080, hookPort)) as NodeOptions), port: 0 };
}

async function nodeWith(options: NodeOptions): Promise<number> {
  const { node } = await cluster.node({ namespaces: {}, ...options });
  return node.address.port;
}

const SCENARIOS = [
  "start",
  "client",
  "backend",
  "echo",
  "config",
  "webhook-receiver",
  "shared-config",
  "soketi-config",
];

describe("docs/pusher.md", () => {
  it("runs every block it marks to run", () => {
    const ids = new Set(blocks.filter((b) => b.kind === "run").map((b) => b.id));
    expect([...ids].sort()).toEqual([...SCENARIOS].sort());
  });

  it("quick start: hubcast start with --pusher-app, pusher-js subscribes, the pusher SDK publishes", async () => {
    const line = lines(block("run", "start").code).find((l) => l.startsWith("npx hubcast start"));
    expect(line).toBeDefined();
    const args = (line ?? "").replace("npx hubcast start", "").trim().split(/\s+/);
    const server = await ServerProcess.start([...args, "--port", "0"]);
    cleanups.push(async () => void (await server.stop()));
    const client = snippet("client", server.port);
    await client.waitFor("subscribed");
    expect(lines(await snippet("backend", server.port).finished())).toEqual(["sent"]);
    expect(lines(await client.finished())).toEqual(lines(block("output", "client").code));
  });

  it("Laravel Echo on the reverb broadcaster receives a Laravel-style event", async () => {
    const port = await nodeWith({ pusherApps: [APP] });
    const echo = snippet("echo", port);
    await echo.waitFor("Echo connected");
    // The subscription follows the connection; publish until the snippet has what it waits for.
    const sdk = serverSdk(port, APP);
    const publishing = setInterval(
      () => void sdk.trigger("orders", "OrderShipped", { id: 7 }).catch(() => undefined),
      100,
    );
    try {
      expect(lines(await echo.finished())).toEqual(lines(block("output", "echo").code));
    } finally {
      clearInterval(publishing);
    }
  });

  it("the apps config and the webhook receiver: a subscription is reported signed and verified", async () => {
    const hookPort = await freePort();
    const receiver = snippet("webhook-receiver", 8080, hookPort);
    await receiver.waitFor("listening");
    const options = config("config", hookPort);
    expect(() => resolveNodeOptions(options)).not.toThrow();
    const port = await nodeWith(options);
    const client = pusherClient(port, serverSdk(port, APP), { id: "u" }, {}, APP.key);
    pushers.push(client);
    await connected(client);
    await subscribed(client, "orders");
    await receiver.waitFor("channel_occupied orders");
    expect(lines(receiver.stdout)).toEqual(lines(block("output", "webhook-receiver").code));
  });

  it("the shared-namespace config lets native and Pusher clients share a channel", async () => {
    const { node, wsUrl } = await cluster.node(config("shared-config"));
    const native = await cluster.client(wsUrl);
    await native.ok("subscribe", { channel: "chat:room" });
    await serverSdk(node.address.port, APP).trigger("room", "said", { text: "hi" });
    const [pub] = await native.waitForPushes<{ data: unknown }>("publication", 1, "chat:room");
    expect(pub?.data).toEqual({ event: "said", data: { text: "hi" } });
  });

  it("the config a Soketi user moves to is accepted as written", async () => {
    const options = config("soketi-config");
    expect(resolveNodeOptions(options).pusherApps).toHaveLength(1);
    expect(await nodeWith(options)).toBeGreaterThan(0);
  });
});
