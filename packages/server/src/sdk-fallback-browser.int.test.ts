import { Client } from "@hubcast/client";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { WebSocket } from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HAS_CHROMIUM, launchChromium } from "../../../test/support/chromium.js";
import { PageSite } from "../../../test/support/page-site.js";
import { NGINX, NginxProcess } from "../../../test/support/load-balancers.js";
import type { LoadBalancer } from "../../../test/support/load-balancers.js";
import { TestCluster } from "../../../test/support/nodes.js";
import { SwitchProxy } from "../../../test/support/switch-proxy.js";

/** Bound on every wait for the page; generous because CI machines are slow, and nothing sleeps. */
const WAIT_MS = 15_000;

/** What the test page records, on `window.hubcastTest`. */
interface PageState {
  transport: string | undefined;
  transports: { from?: string; to: string }[];
  disconnects: number;
  errors: string[];
  subscribed: number;
  recovered: boolean[];
  received: unknown[];
}

/**
 * The page's code: the SDK with its defaults, or `transports`; it subscribes, publishes
 * what the test asks for (`window.hubcastSay`), and records what arrives.
 */
function pageScript(wsUrl: string, channel: string, transports: string[] | undefined): string {
  const options = transports === undefined ? "" : `, ${JSON.stringify({ transports })}`;
  return `
    import { Client } from "${new URL(wsUrl).origin.replace(/^ws/, "http")}/sdk/hubcast.js";
    const state = { transport: undefined, transports: [], disconnects: 0, errors: [], subscribed: 0, recovered: [], received: [] };
    window.hubcastTest = state;
    const client = new Client(${JSON.stringify(wsUrl)}${options});
    client.on("transport", (event) => state.transports.push(event));
    client.on("connected", () => { state.transport = client.transport; });
    client.on("disconnected", () => { state.transport = client.transport; state.disconnects++; });
    // Expected while WebSockets are refused and during the cut; kept for the test's messages.
    client.on("error", ({ error }) => state.errors.push(String(error)));
    const sub = client.newSubscription(${JSON.stringify(channel)});
    sub.on("subscribed", (event) => { state.subscribed++; state.recovered.push(event.recovered === true); });
    sub.on("publication", (p) => state.received.push(p.data));
    sub.subscribe();
    client.connect();
    window.hubcastSay = (text) => client.publish(${JSON.stringify(channel)}, { text });`;
}

const htmlPage = (body: string): string =>
  `<!doctype html><html><head><link rel="icon" href="data:,"></head><body>${body}</body></html>`;

const state = (page: Page): Promise<PageState> =>
  page.evaluate(() => (globalThis as unknown as { hubcastTest: PageState }).hubcastTest);

const CASES = [
  { name: "with its default transports, falls back to HTTP-streaming", transports: undefined, expected: "http-stream" },
  { name: 'with transports: ["sse"], runs over SSE', transports: ["sse"], expected: "sse" },
] as const;

describe.skipIf(!HAS_CHROMIUM || NGINX === undefined)(
  "a page whose network refuses WebSockets (Chromium behind nginx with hubcast-no-websocket.conf)",
  () => {
    const cluster = new TestCluster();
    const site = new PageSite();
    const pages = site.pages;
    const contexts: BrowserContext[] = [];
    const clients: Client[] = [];
    let siteUrl = "";
    let nodeWsUrl = "";
    let cutter: SwitchProxy | undefined;
    let nginx: LoadBalancer | undefined;
    let browser: Browser | undefined;

    beforeAll(async () => {
      const started = await cluster.node();
      nodeWsUrl = started.wsUrl;
      // nginx reaches the node through a proxy that can cut every connection, the stream's too.
      cutter = new SwitchProxy(started.node.address.url);
      const cutterUrl = new URL(await cutter.start());
      nginx = await NginxProcess.start("hubcast-no-websocket.conf", [cutterUrl.host]);
      // The page's own origin: a static server on another loopback port.
      siteUrl = await site.start();
      browser = await launchChromium(WAIT_MS);
    });

    afterEach(async () => {
      for (const client of clients.splice(0)) client.disconnect();
      await Promise.all(contexts.splice(0).map((context) => context.close()));
    });

    afterAll(async () => {
      await browser?.close();
      await site.close();
      await nginx?.stop();
      await cutter?.close();
      await cluster.cleanup();
    });

    it.each(CASES)("$name: chats, and recovers after a cut", { timeout: 60_000 }, async ({ transports, expected }) => {
      if (browser === undefined || nginx === undefined || cutter === undefined) throw new Error("setup failed");
      const channel = `chat:fallback-${pages.size}`;
      const path = `/page-${pages.size}.html`;
      pages.set(
        path,
        htmlPage(`<script type="module">${pageScript(nginx.wsUrl, channel, transports && [...transports])}</script>`),
      );
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(`uncaught: ${error.stack ?? error.message}`));
      const websockets: string[] = [];
      page.on("websocket", (ws) => websockets.push(ws.url()));
      await page.goto(`${siteUrl}${path}`, { timeout: WAIT_MS });
      // Waits for `check` on the page's state; a timeout says what the page had seen.
      const wait = async (check: string): Promise<void> => {
        const expression = `(() => { const s = window.hubcastTest; return ${check}; })()`;
        await page.waitForFunction(expression, undefined, { timeout: WAIT_MS }).catch(async (error: unknown) => {
          const seen = JSON.stringify(await state(page).catch(() => undefined));
          throw new Error(`the page never had ${check}: ${seen}`, { cause: error });
        });
      };

      await wait("s.subscribed >= 1");
      const first = await state(page);
      expect(first.transport).toBe(expected);
      expect(first.transports).toEqual([{ to: expected }]);
      // With the defaults, the page tried a WebSocket first, and nginx broke it.
      expect(websockets.length > 0).toBe(transports === undefined);

      // Chat: the page publishes (by POST) and receives its own message down the stream.
      await page.evaluate(() =>
        (globalThis as unknown as { hubcastSay: (t: string) => Promise<unknown> }).hubcastSay("hi"),
      );
      await wait("s.received.length >= 1");

      // A cut: every connection behind nginx drops; a WebSocket client on the node publishes
      // meanwhile; once connections pass again, the page recovers what it missed.
      const other = new Client(nodeWsUrl, { websocket: WebSocket, transports: ["websocket"] });
      clients.push(other);
      other.connect();
      await other.ready(WAIT_MS);
      cutter.cut();
      await wait("s.disconnects >= 1");
      await other.publish(channel, { text: "missed" });
      cutter.restore();
      await wait("s.subscribed >= 2 && s.received.length >= 2");
      const last = await state(page);
      expect(last.received).toEqual([{ text: "hi" }, { text: "missed" }]);
      expect(last.recovered.at(-1)).toBe(true);
      expect(last.transport).toBe(expected);
      expect(errors).toEqual([]);
    });
  },
);
