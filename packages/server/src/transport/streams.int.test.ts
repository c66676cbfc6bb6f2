import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { connect } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HAS_CHROMIUM, launchChromium } from "../../../../test/support/chromium.js";
import { runShellBlock, runnableBlocks } from "../../../../test/support/doc-examples.js";
import { eventually } from "../../../../test/support/eventually.js";
import { TestCluster } from "../../../../test/support/nodes.js";
import { EventSourcePage } from "../../../../test/support/event-source-page.js";
import { SwitchProxy } from "../../../../test/support/switch-proxy.js";
import { TEST_SECRET, sign } from "../../../../test/support/tokens.js";
import type { HubcastNode } from "../node.js";

// One-way streams against real nodes: curl (Debian's) for NDJSON, a real Chromium's own
// EventSource for SSE, raw sockets for a reader that never reads.

const cluster = new TestCluster();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await cluster.cleanup();
});

const publish = (node: HubcastNode, channel: string, data: unknown) =>
  node.api.publish(channel, new TextEncoder().encode(JSON.stringify(data)));

/** `curl -sN url`, its stdout split into parsed lines as they arrive; killed after the test. */
function curl(url: string): { lines: Record<string, unknown>[]; process: ChildProcess } {
  const child = spawn("curl", ["-sN", url], { stdio: ["ignore", "pipe", "inherit"] });
  cleanups.push(() => {
    child.kill();
  });
  const lines: Record<string, unknown>[] = [];
  let rest = "";
  child.stdout.on("data", (chunk: Buffer) => {
    const parts = (rest + chunk.toString("utf8")).split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return { lines, process: child };
}

const ofType = (lines: Record<string, unknown>[], type: string) => lines.filter((l) => l["type"] === type);

describe("GET /stream (NDJSON)", () => {
  it("streams publications to curl, each with channel, epoch and offset, and resumes with since", async () => {
    const { node } = await cluster.node();
    const base = node.address.url;
    const first = curl(`${base}/stream?channel=chat:a`);
    await eventually(() => ofType(first.lines, "subscribed").length === 1, 5_000, "subscribed");
    await publish(node, "chat:a", { n: 1 });
    await eventually(() => ofType(first.lines, "publication").length === 1, 5_000, "first publication");
    const [pub] = ofType(first.lines, "publication");
    expect(pub).toMatchObject({ channel: "chat:a", offset: 1, data: { n: 1 } });
    first.process.kill();
    await publish(node, "chat:a", { n: 2 });
    await publish(node, "chat:a", { n: 3 });
    const since = `chat:a:${String(pub?.["epoch"])}:1`;
    const second = curl(`${base}/stream?channel=chat:a&since=${encodeURIComponent(since)}`);
    await eventually(() => ofType(second.lines, "publication").length === 2, 5_000, "the missed publications");
    expect(ofType(second.lines, "subscribed")[0]).toMatchObject({ recovered: true });
    expect(ofType(second.lines, "publication").map((p) => p["data"])).toEqual([{ n: 2 }, { n: 3 }]);
  });

  it("sends keepalive lines at the ping interval, and never closes a stream for a missing pong", async () => {
    const { node } = await cluster.node({ pingIntervalMs: 200, pongTimeoutMs: 100 });
    const { lines } = curl(`${node.address.url}/stream?channel=chat:k`);
    await eventually(() => ofType(lines, "ping").length >= 4, 5_000, "four keepalives");
    expect(ofType(lines, "disconnect")).toEqual([]);
  });
});

describe("refusals are HTTP answers before the stream starts", () => {
  const status = async (url: string, init?: RequestInit) => {
    const res = await fetch(url, init);
    return { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code };
  };

  it("answers 400, 401 and 403 like the WebSocket rules decide, and streams what a token lists", async () => {
    const { node } = await cluster.node({ tokenHmacSecret: TEST_SECRET, allowAnonymous: true, maxStreamChannels: 2 });
    const base = node.address.url;
    expect(await status(`${base}/sse`)).toEqual({ status: 400, code: "bad_request" });
    expect(await status(`${base}/sse?channel=chat:a&channel=chat:b&channel=chat:c`)).toEqual({
      status: 400,
      code: "bad_request",
    });
    expect(await status(`${base}/stream?channel=chat:a&since=chat:a:x`)).toEqual({ status: 400, code: "bad_request" });
    expect(await status(`${base}/stream?channel=nope:a`)).toEqual({ status: 400, code: "bad_request" });
    expect(await status(`${base}/sse?channel=chat:a&token=garbage`)).toEqual({ status: 401, code: "unauthorized" });
    // members: subscribe "authenticated": anonymous is refused, a user is not.
    expect(await status(`${base}/sse?channel=members:x`)).toEqual({ status: 403, code: "forbidden" });
    const token = await sign({ sub: "alice", channels: ["members:x", "chat:*"] });
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    const ok = await fetch(`${base}/stream`, { headers: { Cookie: `hubcast_token=${token}` }, signal: abort.signal });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("application/x-ndjson");
    const reader = (ok.body as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    // Only the exact channel: the prefix names no channel.
    expect(JSON.parse(new TextDecoder().decode(value).split("\n")[0] ?? "")).toMatchObject({
      type: "subscribed",
      channel: "members:x",
    });
  });

  it("answers 503 while the node drains, and tells its streams to go elsewhere (3000, reconnect)", async () => {
    const { node } = await cluster.node({ drainWindowMs: 1_000 });
    const open = curl(`${node.address.url}/stream?channel=chat:a`);
    await eventually(() => ofType(open.lines, "subscribed").length === 1, 5_000, "subscribed");
    const drained = node.drain();
    expect(await status(`${node.address.url}/stream?channel=chat:a`)).toEqual({ status: 503, code: "unavailable" });
    await drained;
    await new Promise((resolve) => open.process.once("exit", resolve));
    expect(ofType(open.lines, "disconnect")).toEqual([
      { type: "disconnect", code: 3000, reason: "shutdown", reconnect: true },
    ]);
  });
});

describe("budgets", () => {
  it("closes a stream whose reader does not read (3003) and the node stays healthy", async () => {
    const { node } = await cluster.node({ maxConnectionBytes: 64 * 1024 });
    const { port } = node.address;
    const socket = connect(port, "127.0.0.1");
    cleanups.push(() => {
      socket.destroy();
    });
    socket.pause(); // never reads
    socket.write("GET /stream?channel=plain:flood HTTP/1.1\r\nHost: x\r\n\r\n");
    await eventually(() => node.info().subscriptions === 1, 5_000, "the stream subscribed");
    const big = "x".repeat(16 * 1024);
    for (let i = 0; i < 400 && node.info().connections > 0; i++) {
      await publish(node, "plain:flood", big);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await eventually(() => node.info().connections === 0, 10_000, "the slow stream dropped");
    expect((await fetch(`${node.address.url}/readyz`)).status).toBe(200);
    expect((await node.metrics.scrape()).text).toMatch(/hubcast_disconnects_total\{code="slow_consumer"\} 1/);
  });
});

describe.skipIf(!HAS_CHROMIUM)("GET /sse with a plain EventSource in Chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium(20_000);
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });

  it("receives publications and, after a cut, exactly the missed one, once, in order", async () => {
    const { node } = await cluster.node();
    const proxy = new SwitchProxy(node.address.url);
    cleanups.push(() => proxy.close());
    const wsUrl = await proxy.start();
    const base = wsUrl.replace(/^ws/, "http").replace(/\/ws$/, "");
    const page = await EventSourcePage.open(browser, base, "/sse?channel=chat:live");
    cleanups.push(() => page.close());
    const opens = async () => (await page.state()).opens;
    const got = async () => (await page.state()).messages;
    await eventually(async () => (await opens()) === 1, 5_000, "the stream open");
    await publish(node, "chat:live", 1);
    await eventually(async () => (await got()).length === 1, 5_000, "the first publication");
    proxy.cut();
    await publish(node, "chat:live", 2);
    proxy.restore();
    await eventually(async () => (await opens()) === 2, 10_000, "the browser reconnected");
    await publish(node, "chat:live", 3);
    await eventually(async () => (await got()).length >= 3, 5_000, "the missed and the new publication");
    const events = await got();
    expect(events.map((e) => e.publication.data)).toEqual([1, 2, 3]);
    expect(events[1]?.id).toMatch(/:2$/);
  });

  it("resumes a stream of several channels exactly too: its event id holds every channel's position", async () => {
    const { node } = await cluster.node();
    const proxy = new SwitchProxy(node.address.url);
    cleanups.push(() => proxy.close());
    const base = (await proxy.start()).replace(/^ws/, "http").replace(/\/ws$/, "");
    const page = await EventSourcePage.open(browser, base, "/sse?channel=chat:one&channel=chat:two");
    cleanups.push(() => page.close());
    const state = async () => {
      const { opens, messages } = await page.state();
      return { opens, got: messages.map((m) => `${m.publication.channel}=${String(m.publication.data)}`) };
    };
    await eventually(async () => (await state()).opens === 2, 5_000, "both channels subscribed");
    await publish(node, "chat:one", 1);
    await publish(node, "chat:two", 1);
    await eventually(async () => (await state()).got.length === 2, 5_000, "the first publications");
    proxy.cut();
    await publish(node, "chat:one", 2);
    await publish(node, "chat:two", 2);
    await publish(node, "chat:one", 3);
    proxy.restore();
    await eventually(async () => (await state()).opens === 4, 10_000, "the browser reconnected");
    await eventually(async () => (await state()).got.length >= 5, 5_000, "the missed publications");
    const { got } = await state();
    expect(got.slice(0, 2).sort()).toEqual(["chat:one=1", "chat:two=1"]);
    // Each channel's missed publications once, in order, wherever the other channel's fall.
    expect(got.slice(2).filter((g) => g.startsWith("chat:one"))).toEqual(["chat:one=2", "chat:one=3"]);
    expect(got.slice(2).filter((g) => g.startsWith("chat:two"))).toEqual(["chat:two=2"]);
    expect(got).toHaveLength(5);
  });
});

describe("docs/transports.md", () => {
  for (const block of runnableBlocks(new URL("../../../../docs/transports.md", import.meta.url), "sh")) {
    it(`runs the example at line ${block.line}`, async () => {
      const apiKey = "docs-key-0123456789abcdef";
      const { node } = await cluster.node({ apiKey, demo: true, namespaces: {} });
      const result = await runShellBlock(block, { HUBCAST_URL: node.address.url, HUBCAST_API_KEY: apiKey });
      expect(result).toMatchObject({ code: 0, stderr: "" });
      expect(JSON.parse(result.stdout)).toMatchObject({
        type: "publication",
        channel: "demo:docs",
        data: { text: "hello" },
      });
    });
  }
});
