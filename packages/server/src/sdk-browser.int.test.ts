import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HAS_CHROMIUM, launchChromium, openPage as openBrowserPage } from "../../../test/support/chromium.js";
import { PageSite } from "../../../test/support/page-site.js";
import { docBlocks, retarget } from "../../../test/support/doc-snippets.js";
import type { DocBlock } from "../../../test/support/doc-snippets.js";
import { eventually } from "../../../test/support/eventually.js";
import { TestCluster } from "../../../test/support/nodes.js";

const KEY = "sdk-browser-test-key-0123456789";
/** Bound on every wait for the page; generous because CI machines are slow, and nothing sleeps. */
const WAIT_MS = 15_000;

/** What the test page records, on `window.hubcastTest`. */
interface PageState {
  subscribed: boolean;
  received: unknown[];
  /** The subprotocol the SDK offered when it opened its WebSocket. */
  offered: unknown;
}

/** The browser examples of docs/sdk.md, as written there. */
const docExamples = (): DocBlock[] =>
  docBlocks(new URL("../../../docs/sdk.md", import.meta.url)).filter(
    (block) => block.kind === "run" && block.id.startsWith("browser-"),
  );

/** The page's own code once `Client` is in scope: subscribe, record what arrives. */
function pageScript(wsUrl: string, channel: string, protocol: "json" | "protobuf"): string {
  return `
    const state = { subscribed: false, received: [], offered: undefined };
    window.hubcastTest = state;
    class Recorded extends WebSocket {
      constructor(url, protocols) { super(url, protocols); state.offered = protocols; }
    }
    const options = { protocol: ${JSON.stringify(protocol)}, websocket: Recorded };
    const client = new Client(${JSON.stringify(wsUrl)}, options);
    const sub = client.newSubscription(${JSON.stringify(channel)});
    sub.on("subscribed", () => { state.subscribed = true; });
    sub.on("publication", (p) => state.received.push(p.data));
    sub.subscribe();
    client.connect();`;
}

/** A whole page around `body`; the empty icon keeps Chromium from logging a 404 for /favicon.ico. */
const htmlPage = (body: string): string =>
  `<!doctype html><html><head><link rel="icon" href="data:,"></head><body>${body}</body></html>`;

/** The ways a page on another origin loads the SDK from a node. */
const LOADERS = {
  "a script tag (hubcast.iife.js, global Hubcast)": (node: string, script: string) =>
    `<script src="${node}/sdk/hubcast.iife.js"></script>\n<script>const { Client } = Hubcast;${script}</script>`,
  "an ES module import (hubcast.js)": (node: string, script: string) =>
    `<script type="module">import { Client } from "${node}/sdk/hubcast.js";${script}</script>`,
  'an ES module import of hubcast-protobuf.js with protocol: "protobuf"': (node: string, script: string) =>
    `<script type="module">import { Client } from "${node}/sdk/hubcast-protobuf.js";${script}</script>`,
} as const;
type Loader = keyof typeof LOADERS;

describe.skipIf(!HAS_CHROMIUM)("the browser SDK loaded from a node by a page on another origin (Chromium)", () => {
  const cluster = new TestCluster();
  const site = new PageSite();
  const pages = site.pages;
  let siteUrl = "";
  let nodeUrl = "";
  let wsUrl = "";
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    // The demo on: the docs' examples use its namespace.
    const started = await cluster.node({ apiKey: KEY, demo: true });
    nodeUrl = started.node.address.url;
    wsUrl = started.wsUrl;
    // The page's own origin: a static server on another loopback port.
    siteUrl = await site.start();
    browser = await launchChromium(WAIT_MS);
  });

  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((context) => context.close()));
  });

  afterAll(async () => {
    await browser?.close();
    await site.close();
    await cluster.cleanup();
  });

  async function openPage(path: string): Promise<{ page: Page; errors: string[] }> {
    if (browser === undefined) throw new Error("the browser did not start");
    const { context, page, errors } = await openBrowserPage(browser, `${siteUrl}${path}`, WAIT_MS);
    contexts.push(context);
    return { page, errors };
  }

  async function publish(channel: string, data: unknown): Promise<void> {
    const res = await fetch(`${nodeUrl}/api/publish`, {
      method: "POST",
      headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ channel, data }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  }

  it.each(Object.keys(LOADERS) as Loader[])(
    "connects, subscribes and receives a publication made through the HTTP API, loaded by %s",
    async (loader) => {
      const protocol = loader.includes("protobuf") ? "protobuf" : "json";
      const channel = `chat:browser-${protocol}-${pages.size}`;
      const path = `/page-${pages.size}.html`;
      const script = pageScript(wsUrl, channel, protocol);
      pages.set(path, htmlPage(LOADERS[loader](nodeUrl, script)));
      expect(new URL(siteUrl).origin).not.toBe(new URL(nodeUrl).origin);

      const { page, errors } = await openPage(path);
      await page.waitForFunction(
        () => (globalThis as { hubcastTest?: PageState }).hubcastTest?.subscribed === true,
        undefined,
        { timeout: WAIT_MS },
      );
      await publish(channel, { text: "hello from the server", n: 1 });
      await page.waitForFunction(
        () => ((globalThis as { hubcastTest?: PageState }).hubcastTest?.received.length ?? 0) >= 1,
        undefined,
        { timeout: WAIT_MS },
      );
      const state = await page.evaluate(() => (globalThis as { hubcastTest?: PageState }).hubcastTest);
      expect(state?.received).toEqual([{ text: "hello from the server", n: 1 }]);
      expect(state?.offered).toBe(`hubcast.v1.${protocol}`);
      expect(errors).toEqual([]);
    },
  );

  it("runs the script-tag and ES module examples of docs/sdk.md as written", async () => {
    const examples = docExamples();
    expect(examples).toHaveLength(2);
    for (const [i, example] of examples.entries()) {
      // Only the node's address and the channel change: each example gets a channel of its own.
      const channel = `demo:doc-example-${i}`;
      const html = retarget(example.code, { httpUrl: nodeUrl, wsUrl }).replaceAll(
        '"demo:lobby"',
        JSON.stringify(channel),
      );
      pages.set(`/doc-${i}.html`, htmlPage(html));
      const { page, errors } = await openPage(`/doc-${i}.html`);
      await eventually(() => hasSubscriber(channel), WAIT_MS, `a subscriber on ${channel}`, 50);
      const logged = page.waitForEvent("console", {
        predicate: (message) => message.text().startsWith("publication"),
        timeout: WAIT_MS,
      });
      await publish(channel, { text: "hello", i });
      expect((await logged).text()).toBe(`publication ${JSON.stringify({ text: "hello", i })}`);
      expect(errors).toEqual([]);
    }
  });

  async function hasSubscriber(channel: string): Promise<boolean> {
    const res = await fetch(`${nodeUrl}/api/channels`, { headers: { Authorization: `Bearer ${KEY}` } });
    const { channels } = (await res.json()) as { channels: { channel: string; subscribers: number }[] };
    return channels.some((c) => c.channel === channel && c.subscribers > 0);
  }
});
