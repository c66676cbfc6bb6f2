import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HAS_CHROMIUM, launchChromium } from "../../../../test/support/chromium.js";
import { eventually } from "../../../../test/support/eventually.js";
import { TEST_NAMESPACES } from "../../../../test/support/nodes.js";
import { RedisServer } from "../../../../test/support/redis.js";
import { EventSourcePage } from "../../../../test/support/event-source-page.js";
import { SwitchProxy } from "../../../../test/support/switch-proxy.js";
import { createNode } from "../node.js";
import type { HubcastNode } from "../node.js";

// One-way streams across nodes on one Redis: a publication made on another node reaches a
// stream, and a drain moves a plain EventSource to another node, which resumes it exactly.

let redis: RedisServer;
const nodes: HubcastNode[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await Promise.all(nodes.splice(0).map((node) => node.close()));
});

async function redisNode(drainWindowMs = 10_000): Promise<HubcastNode> {
  const node = await createNode({
    port: 0,
    logLevel: "silent",
    demo: false,
    namespaces: TEST_NAMESPACES,
    engine: "redis",
    redisUrl: redis.url,
    drainWindowMs,
  });
  nodes.push(node);
  await node.start();
  return node;
}

const publish = (node: HubcastNode, channel: string, data: unknown) =>
  node.api.publish(channel, new TextEncoder().encode(JSON.stringify(data)));

/** Reads an NDJSON stream's lines as they come; aborted after the test. */
async function ndjson(url: string): Promise<Record<string, unknown>[]> {
  const abort = new AbortController();
  cleanups.push(() => abort.abort());
  const res = await fetch(url, { signal: abort.signal });
  expect(res.status).toBe(200);
  const lines: Record<string, unknown>[] = [];
  void (async () => {
    let rest = "";
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const parts = (rest + new TextDecoder().decode(chunk)).split("\n");
        rest = parts.pop() ?? "";
        for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>);
      }
    } catch {
      // aborted
    }
  })();
  return lines;
}

describe("one-way streams on nodes sharing Redis", () => {
  it("deliver to a stream on node A what is published on node B, once and in order", async () => {
    const a = await redisNode();
    const b = await redisNode();
    const lines = await ndjson(`${a.address.url}/stream?channel=chat:x`);
    await eventually(() => lines.some((l) => l["type"] === "subscribed"), 5_000, "the subscribed line");
    for (let n = 1; n <= 5; n++) await publish(b, "chat:x", n);
    await eventually(() => lines.filter((l) => l["type"] === "publication").length === 5, 5_000, "5 publications");
    const publications = lines.filter((l) => l["type"] === "publication");
    expect(publications.map((l) => l["data"])).toEqual([1, 2, 3, 4, 5]);
    expect(publications.map((l) => l["offset"])).toEqual([1, 2, 3, 4, 5]);
  });

  describe.skipIf(!HAS_CHROMIUM)("with a plain EventSource in Chromium", () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchChromium(20_000);
    }, 30_000);
    afterAll(async () => {
      await browser?.close();
    });

    it("moves to another node when its node drains, and resumes there exactly where it was", async () => {
      const a = await redisNode(300);
      const b = await redisNode();
      const proxy = new SwitchProxy(a.address.url);
      cleanups.push(() => proxy.close());
      const base = (await proxy.start()).replace(/^ws/, "http").replace(/\/ws$/, "");
      const page = await EventSourcePage.open(browser, base, "/sse?channel=chat:moving");
      cleanups.push(() => page.close());
      const state = async () => {
        const { opens, messages, disconnects } = await page.state();
        return { opens, disconnects, got: messages.map((m) => m.publication.data) };
      };
      await eventually(async () => (await state()).opens === 1, 5_000, "the stream open on A");
      await publish(a, "chat:moving", 1);
      await eventually(async () => (await state()).got.length === 1, 5_000, "the first publication");

      // A drains; the balancer (the proxy) sends new connections to B; one is published meanwhile.
      proxy.switchTo(b.address.url);
      await a.drain();
      await publish(b, "chat:moving", 2);
      await eventually(async () => (await state()).opens === 2, 10_000, "the EventSource reconnected to B");
      await publish(b, "chat:moving", 3);
      await eventually(async () => (await state()).got.length >= 3, 5_000, "the missed and the new publication");
      const { got, disconnects } = await state();
      expect(got).toEqual([1, 2, 3]);
      expect(disconnects).toMatchObject([{ code: 3000, reconnect: true }]);
    });
  });
});
